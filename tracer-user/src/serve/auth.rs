//! Bearer-token authentication for serve's HTTP endpoints (`--auth-token-file`). The token is
//! re-read when the file changes, so it can be rotated (a Kubernetes Secret is updated in place)
//! without restarting the agent.

use std::{
    os::unix::fs::PermissionsExt as _,
    path::{Path, PathBuf},
    sync::Mutex,
    time::SystemTime,
};

use anyhow::Result;

use crate::{input, out::Usage};

pub struct Auth {
    path: PathBuf,
    /// The file's modification time when last read, and the token it held.
    current: Mutex<(Option<SystemTime>, String)>,
}

/// Which token is in force, without telling it: when its file was written, and its length.
fn describe(mtime: Option<SystemTime>, token: &str) -> String {
    let at = mtime.map_or("an unknown time".into(), |t| {
        humantime::format_rfc3339_seconds(t).to_string()
    });
    format!("the token written at {at} ({} characters)", token.len())
}

/// Reads and checks the token file: like ssh with its keys, a file others may write is refused
/// (they could choose the token), and a token that no `Authorization` header can carry (empty,
/// short, several lines) is refused rather than locking every client out.
fn read(path: &Path) -> Result<(Option<SystemTime>, String)> {
    let name = path.display();
    let bad =
        |m: String| -> anyhow::Error { Usage(format!("--auth-token-file {name}: {m}")).into() };
    let meta = std::fs::metadata(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
    let mode = meta.permissions().mode();
    if mode & 0o022 != 0 {
        return Err(bad(format!(
            "other users may write it (mode {:o}); chmod go-w it",
            mode & 0o777
        )));
    }
    let text = input::read_text(path, input::TOKEN_MAX, "--auth-token-file")?;
    let token = text.trim();
    if token.lines().count() > 1 {
        return Err(bad(format!(
            "it holds {} lines; the token is one line",
            token.lines().count()
        )));
    }
    if let Some(c) = token.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(bad(format!(
            "the token holds {c:?}, which no Authorization header carries"
        )));
    }
    if token.len() < 16 {
        return Err(bad(format!(
            "the token has {} characters; use at least 16",
            token.len()
        )));
    }
    let mtime = meta.modified().ok();
    Ok((mtime, token.to_string()))
}

impl Auth {
    pub fn from_file(path: PathBuf) -> Result<Auth> {
        let current = read(&path)?;
        if let Ok(m) = std::fs::metadata(&path)
            && m.permissions().mode() & 0o004 != 0
        {
            crate::say!(
                "ctrace: warning: --auth-token-file {}: every user may read it (mode {:o}); chmod o-r it",
                path.display(),
                m.permissions().mode() & 0o777
            );
        }
        Ok(Auth {
            path,
            current: Mutex::new(current),
        })
    }

    /// Re-reads the file if it changed, logging what changed and the token in force.
    pub fn check(&self) {
        if let Ok(mut cur) = self.current.lock()
            && let Some(msg) = reload(&self.path, &mut cur)
        {
            log::warn!("{msg}");
        }
    }

    /// Whether an `Authorization` header value carries the token.
    pub fn allows(&self, header: Option<&str>) -> bool {
        let Some(given) = header.and_then(|h| h.strip_prefix("Bearer ")) else {
            return false;
        };
        self.check();
        let Ok(cur) = self.current.lock() else {
            return false;
        };
        same(given.trim().as_bytes(), cur.1.as_bytes())
    }
}

/// Re-reads the file when its modification time changed; what changed, to log. A file being
/// rewritten may be briefly empty or short, and a deleted one may come back: the old token
/// stays in force then, and the message says so.
fn reload(path: &Path, cur: &mut (Option<SystemTime>, String)) -> Option<String> {
    let name = path.display();
    let mtime = match std::fs::metadata(path) {
        Ok(m) => m.modified().ok(),
        Err(_) if cur.0.is_none() => return None,
        Err(e) => {
            let msg = format!(
                "--auth-token-file {name}: {e}; {} stays in force",
                describe(cur.0, &cur.1)
            );
            // Told once, until the file is back.
            cur.0 = None;
            return Some(msg);
        }
    };
    if mtime == cur.0 {
        return None;
    }
    match read(path) {
        Ok(fresh) => {
            *cur = fresh;
            Some(format!(
                "--auth-token-file {name} changed: {} is in force",
                describe(cur.0, &cur.1)
            ))
        }
        Err(e) => {
            let msg = format!("{e:#}; {} stays in force", describe(cur.0, &cur.1));
            cur.0 = mtime;
            Some(msg)
        }
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

    fn token_file(name: &str, text: &str, mode: u32) -> PathBuf {
        let path = std::env::temp_dir().join(format!("ctrace-token-{}-{name}", std::process::id()));
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    #[test]
    fn files_others_may_write_and_tokens_no_header_carries_are_refused() {
        for (name, text, mode, says) in [
            (
                "gw",
                "0123456789abcdef-token\n",
                0o620,
                "other users may write it",
            ),
            (
                "ww",
                "0123456789abcdef-token\n",
                0o602,
                "other users may write it",
            ),
            (
                "two",
                "0123456789abcdef-a\n0123456789abcdef-b\n",
                0o600,
                "2 lines",
            ),
            ("empty", "", 0o600, "0 characters"),
            (
                "tab",
                "0123456789\tabcdef-token",
                0o600,
                "no Authorization header",
            ),
        ] {
            let p = token_file(name, text, mode);
            let e = Auth::from_file(p.clone())
                .err()
                .unwrap_or_else(|| panic!("{name}"));
            assert!(
                e.is::<Usage>() && e.to_string().contains(says),
                "{name}: {e}"
            );
            std::fs::remove_file(&p).unwrap();
        }
        let p = token_file("dir", "", 0o600);
        std::fs::remove_file(&p).unwrap();
        std::fs::create_dir(&p).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert!(Auth::from_file(p.clone()).is_err());
        std::fs::remove_dir(&p).unwrap();
        let p = token_file("zero", "", 0o600);
        std::fs::remove_file(&p).unwrap();
        std::os::unix::fs::symlink("/dev/zero", &p).unwrap();
        // /dev/zero is writable by all: refused before it is read.
        let e = Auth::from_file(p.clone()).err().unwrap();
        assert!(e.is::<Usage>() && e.to_string().contains("mode 666"), "{e}");
        std::fs::remove_file(&p).unwrap();
    }

    #[test]
    fn a_changed_emptied_or_deleted_file_is_logged_with_the_token_in_force() {
        let p = token_file("reload", "0123456789abcdef-first\n", 0o600);
        let mut cur = read(&p).unwrap();
        assert_eq!(reload(&p, &mut cur), None);
        let later = |s| {
            let f = std::fs::File::options().write(true).open(&p).unwrap();
            f.set_modified(SystemTime::now() + std::time::Duration::from_secs(s))
                .unwrap();
        };
        std::fs::write(&p, "").unwrap();
        later(1);
        let msg = reload(&p, &mut cur).unwrap();
        assert!(
            msg.contains("0 characters") && msg.contains("(22 characters) stays in force"),
            "{msg}"
        );
        assert_eq!(cur.1, "0123456789abcdef-first");
        std::fs::write(&p, "0123456789abcdef-second\n").unwrap();
        later(2);
        let msg = reload(&p, &mut cur).unwrap();
        assert!(
            msg.contains("changed") && msg.contains("(23 characters) is in force"),
            "{msg}"
        );
        std::fs::remove_file(&p).unwrap();
        let msg = reload(&p, &mut cur).unwrap();
        assert!(msg.contains("(23 characters) stays in force"), "{msg}");
        assert_eq!(reload(&p, &mut cur), None, "told once");
        assert_eq!(cur.1, "0123456789abcdef-second");
    }
}
