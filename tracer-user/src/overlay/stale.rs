//! overlay: views of a file that a copy-up leaves on the old, lower copy. Since 4.19 overlayfs
//! reopens the real file for read(), so an fd opened before a copy-up sees the new data; a
//! MAP_SHARED mapping made before it stays on the lower file and keeps the old content. Before
//! 4.19 an open fd stays on the lower file too. The kernel version decides which is looked for.

use std::fs;

use anyhow::{Context, Result};
use aya::{
    Ebpf,
    maps::{HashMap, MapData},
};
use tracer_common::overlay::{MapKey, SHARED_MAPS, SharedMap};

use crate::events::comm_str;

/// Who still holds the old copy of a file just copied up.
pub struct Holder {
    pub pid: u32,
    pub comm: String,
    /// When the mapping was made (kernel monotonic ns); None for an open fd on an old kernel.
    pub since_ns: Option<u64>,
    pub how: &'static str,
}

pub struct Stale {
    maps: HashMap<MapData, MapKey, SharedMap>,
    /// Before 4.19: open fds keep the lower file as well.
    old_kernel: bool,
}

/// (major, minor) of the running kernel.
pub fn kernel_version(release: &str) -> Option<(u32, u32)> {
    let mut it = release.split(|c: char| !c.is_ascii_digit());
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

fn release() -> String {
    fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default()
}

/// Whether `pid` still has a shared mapping of (dev, ino): /proc/PID/maps prints the device in
/// hex as MAJOR:MINOR and the inode in decimal.
fn still_mapped(pid: u32, devs: &[(u32, u32)], ino: u64) -> bool {
    let Ok(text) = fs::read_to_string(format!("/proc/{pid}/maps")) else {
        return false;
    };
    text.lines().any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        let shared = f.get(1).is_some_and(|p| p.ends_with('s'));
        let d = f.get(3).and_then(|d| d.split_once(':')).and_then(|(a, b)| {
            Some((
                u32::from_str_radix(a, 16).ok()?,
                u32::from_str_radix(b, 16).ok()?,
            ))
        });
        shared
            && d.is_some_and(|d| devs.contains(&d))
            && f.get(4).and_then(|i| i.parse().ok()) == Some(ino)
    })
}

impl Stale {
    pub fn take(ebpf: &mut Ebpf) -> Result<Stale> {
        let map = ebpf
            .take_map(SHARED_MAPS)
            .with_context(|| format!("map {SHARED_MAPS} missing"))?;
        Ok(Stale {
            maps: HashMap::try_from(map)?,
            old_kernel: kernel_version(&release()).is_some_and(|v| v < (4, 19)),
        })
    }

    pub fn kernel_rule(&self) -> &'static str {
        if self.old_kernel {
            "kernel < 4.19: MAP_SHARED mappings and open fds keep the lower file"
        } else {
            "kernel >= 4.19: MAP_SHARED mappings keep the lower file; fds see the copy"
        }
    }

    /// Processes other than `copier` that hold the lower copy of the overlay file (`dev`, `ino`)
    /// whose lower path on the host is `lower_path`.
    /// `dev`: the overlay's; `lower_dev`: the lower file's filesystem, which /proc/PID/maps
    /// shows for an overlay mapping on kernels that print the backing file's inode (6.12).
    pub fn holders(
        &self,
        dev: (u32, u32),
        lower_dev: (u32, u32),
        ino: u64,
        copier: u32,
        lower_path: &str,
    ) -> Vec<Holder> {
        let kdev = dev.0 << 20 | dev.1;
        let mut out: Vec<Holder> = self
            .maps
            .iter()
            .filter_map(|r| r.ok())
            .filter(|(k, _)| k.dev == kdev && k.ino == ino && k.tgid != copier)
            .filter(|(k, _)| still_mapped(k.tgid, &[dev, lower_dev], ino))
            .map(|(k, v)| Holder {
                pid: k.tgid,
                comm: comm_str(&v.comm),
                since_ns: Some(v.since_ns),
                how: "MAP_SHARED mapping",
            })
            .collect();
        if self.old_kernel {
            out.extend(open_fds(lower_path, copier));
        }
        out
    }
}

/// Before 4.19 an fd opened before the copy-up is on the lower file itself.
fn open_fds(lower_path: &str, copier: u32) -> Vec<Holder> {
    let Ok(procs) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    procs
        .flatten()
        .filter_map(|p| p.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != copier)
        .filter(|pid| {
            fs::read_dir(format!("/proc/{pid}/fd")).is_ok_and(|fds| {
                fds.flatten()
                    .any(|fd| fs::read_link(fd.path()).is_ok_and(|l| l.as_os_str() == lower_path))
            })
        })
        .map(|pid| Holder {
            pid,
            comm: fs::read_to_string(format!("/proc/{pid}/comm"))
                .unwrap_or_default()
                .trim()
                .to_string(),
            since_ns: None,
            how: "open fd",
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_versions_decide_the_rule() {
        assert_eq!(kernel_version("6.18.44-fc-v1045"), Some((6, 18)));
        assert_eq!(kernel_version("4.14.0"), Some((4, 14)));
        assert!(kernel_version("4.14.0").unwrap() < (4, 19));
        assert!(kernel_version("4.19.1").unwrap() >= (4, 19));
        assert_eq!(kernel_version("x"), None);
    }

    #[test]
    fn a_shared_mapping_is_found_in_proc_maps() {
        // This test's own maps: no shared mapping of inode 1 on device 0:1.
        assert!(!still_mapped(std::process::id(), &[(0, 1)], 1));
    }
}
