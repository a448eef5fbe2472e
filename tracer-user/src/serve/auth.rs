//! Bearer-token authentication for serve's HTTP endpoints (`--auth-token-file`). The token is
//! re-read when the file changes, so it can be rotated (a Kubernetes Secret is updated in place)
//! without restarting the agent.

use std::{path::PathBuf, sync::Mutex, time::SystemTime};

use anyhow::{Context as _, Result, bail};

pub struct Auth {
    path: PathBuf,
    /// The file's modification time when last read, and the token it held.
    current: Mutex<(Option<SystemTime>, String)>,
}

fn read(path: &PathBuf) -> Result<(Option<SystemTime>, String)> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("--auth-token-file {}: cannot read it", path.display()))?;
    let token = text.trim().to_string();
    if token.len() < 16 {
        bail!(
            "--auth-token-file {}: the token has {} characters; use at least 16",
            path.display(),
            token.len()
        );
    }
    let mtime = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    Ok((mtime, token))
}

impl Auth {
    pub fn from_file(path: PathBuf) -> Result<Auth> {
        let current = read(&path)?;
        Ok(Auth {
            path,
            current: Mutex::new(current),
        })
    }

    /// Whether an `Authorization` header value carries the token.
    pub fn allows(&self, header: Option<&str>) -> bool {
        let Some(given) = header.and_then(|h| h.strip_prefix("Bearer ")) else {
            return false;
        };
        let Ok(mut cur) = self.current.lock() else {
            return false;
        };
        let mtime = std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .ok();
        if mtime != cur.0 {
            // A file being rewritten may be briefly empty or short: keep the old token then.
            if let Ok(fresh) = read(&self.path) {
                *cur = fresh;
            }
        }
        same(given.trim().as_bytes(), cur.1.as_bytes())
    }
}

/// Compares in time independent of where the first difference is.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_checked_and_reread_when_the_file_changes() {
        let path = std::env::temp_dir().join(format!("ctrace-token-{}", std::process::id()));
        std::fs::write(&path, "0123456789abcdef-first\n").unwrap();
        let auth = Auth::from_file(path.clone()).unwrap();
        assert!(auth.allows(Some("Bearer 0123456789abcdef-first")));
        assert!(!auth.allows(Some("Bearer 0123456789abcdef-firsT")));
        assert!(!auth.allows(Some("0123456789abcdef-first")));
        assert!(!auth.allows(None));
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&path, "0123456789abcdef-second\n").unwrap();
        let later = SystemTime::now() + std::time::Duration::from_secs(1);
        let f = std::fs::File::options().write(true).open(&path).unwrap();
        f.set_modified(later).unwrap();
        assert!(auth.allows(Some("Bearer 0123456789abcdef-second")));
        assert!(!auth.allows(Some("Bearer 0123456789abcdef-first")));
        std::fs::write(&path, "short").unwrap();
        assert!(Auth::from_file(path.clone()).is_err());
        let _ = std::fs::remove_file(&path);
    }
}
