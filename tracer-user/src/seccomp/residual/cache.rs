//! The residual's cache: one calibration per kernel release, CPU model and mitigations, in
//! /var/cache/ctrace (or `CTRACE_CACHE_DIR`), so a node pays for it once.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use super::Residual;

/// Calibrations kept, newest last: a node that boots another kernel adds one.
const KEPT: usize = 16;
/// The largest cache file read (a few hundred bytes per entry).
const MAX_BYTES: u64 = 64 * 1024;

/// What a calibration holds for.
pub struct Key {
    pub release: String,
    pub cpu: String,
    pub mitigations: String,
}

impl Key {
    pub fn of_node() -> Key {
        let release = crate::node::kernel_release();
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|t| {
                t.lines()
                    .find_map(|l| l.strip_prefix("model name"))
                    .and_then(|v| v.split_once(':'))
                    .map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_default();
        Key {
            release,
            cpu,
            mitigations: mitigations(),
        }
    }

    fn matches(&self, r: &Residual) -> bool {
        r.release == self.release && r.cpu == self.cpu && r.mitigations == self.mitigations
    }
}

/// /sys/devices/system/cpu/vulnerabilities, as `name=state` pairs in name order: return
/// thunks and retpolines decide what a mispredicted return or jump costs.
fn mitigations() -> String {
    let dir = "/sys/devices/system/cpu/vulnerabilities";
    let mut pairs: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    let state = std::fs::read_to_string(e.path()).ok()?;
                    Some(format!("{name}={}", state.trim()))
                })
                .collect()
        })
        .unwrap_or_default();
    pairs.sort();
    pairs.join("; ")
}

fn path() -> PathBuf {
    std::env::var_os("CTRACE_CACHE_DIR")
        .map_or_else(|| PathBuf::from("/var/cache/ctrace"), PathBuf::from)
        .join("seccomp-residual.json")
}

fn read_all(p: &Path) -> Vec<Residual> {
    match std::fs::metadata(p) {
        Ok(m) if m.is_file() && m.len() <= MAX_BYTES => std::fs::read(p)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

pub fn load(key: &Key) -> Option<Residual> {
    load_from(&path(), key)
}

pub fn store(r: &Residual) -> Result<()> {
    store_to(&path(), r)
}

fn load_from(p: &Path, key: &Key) -> Option<Residual> {
    read_all(p).into_iter().rev().find(|r| key.matches(r))
}

fn store_to(p: &Path, r: &Residual) -> Result<()> {
    let key = Key {
        release: r.release.clone(),
        cpu: r.cpu.clone(),
        mitigations: r.mitigations.clone(),
    };
    let mut all: Vec<Residual> = read_all(p)
        .into_iter()
        .filter(|o| !key.matches(o))
        .collect();
    all.push(r.clone());
    let skip = all.len().saturating_sub(KEPT);
    if let Some(dir) = p.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    // Written aside and renamed: a reader never sees half a file.
    let tmp = p.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&all[skip..])?)
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, p).with_context(|| format!("renaming to {}", p.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn residual(release: &str, k: f64) -> Residual {
        Residual {
            per_slow_path_sample: k,
            low: k,
            high: k,
            rounds: 3,
            release: release.into(),
            cpu: "cpu".into(),
            mitigations: "m".into(),
            source: String::new(),
        }
    }

    #[test]
    fn one_calibration_per_kernel_the_newest_kept() {
        let dir = std::env::temp_dir().join(format!("ctrace-residual-{}", std::process::id()));
        let p = dir.join("seccomp-residual.json");
        let key = |release: &str| Key {
            release: release.into(),
            cpu: "cpu".into(),
            mitigations: "m".into(),
        };
        assert_eq!(load_from(&p, &key("6.1")), None);
        store_to(&p, &residual("6.1", 0.5)).unwrap();
        store_to(&p, &residual("6.12", 0.7)).unwrap();
        store_to(&p, &residual("6.1", 0.6)).unwrap();
        assert_eq!(
            load_from(&p, &key("6.1")).unwrap().per_slow_path_sample,
            0.6
        );
        assert_eq!(
            load_from(&p, &key("6.12")).unwrap().per_slow_path_sample,
            0.7
        );
        assert_eq!(read_all(&p).len(), 2);
        // Other mitigations: another calibration.
        let other = Key {
            mitigations: "n".into(),
            ..key("6.1")
        };
        assert_eq!(load_from(&p, &other), None);
        // Garbage is no calibration, not an error.
        std::fs::write(&p, b"not json").unwrap();
        assert_eq!(load_from(&p, &key("6.1")), None);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
