//! The overlay mounts of ctrace's own (the host's) mount table, by device, kept for a while after
//! they are unmounted. Docker and podman mount a container's overlay on the host before its
//! command starts and unmount it after it exits; a container that copies up and exits at once
//! has its namespace gone by the drain, and its overlay is found here by the device the kernel
//! read from the task's root at the call (`OverlayEvent::root_dev`).
//!
//! The table is read again only when it changed: the kernel marks /proc/self/mountinfo with
//! POLLPRI on each mount or unmount, so a tick with no change costs one poll(2).

use std::{
    collections::HashMap,
    fs::File,
    io::{Read, Seek, SeekFrom},
    os::fd::AsRawFd,
    time::{Duration, Instant},
};

use super::mounts::{Mount, parse_mountinfo};

/// How long an unmounted overlay is remembered: its calls may still wait in the queues.
const KEEP: Duration = Duration::from_secs(600);
/// Overlays remembered, at most.
const CAP: usize = 8192;

#[derive(Default)]
pub struct HostOverlays {
    /// /proc/self/mountinfo, held open for poll(2) (None: not opened yet, or it failed).
    file: Option<File>,
    /// (major, minor) -> (last seen mounted, the mount).
    by_dev: HashMap<(u32, u32), (Instant, Mount)>,
}

/// The kernel's dev_t (major << 20 | minor) as (major, minor).
pub fn split_dev(dev: u32) -> (u32, u32) {
    (dev >> 20, dev & 0xf_ffff)
}

impl HostOverlays {
    /// Reads the table if it changed since the last look (or was never read).
    pub fn refresh(&mut self) {
        let first = self.file.is_none();
        if first {
            self.file = File::open("/proc/self/mountinfo").ok();
        }
        let Some(f) = self.file.as_mut() else {
            return;
        };
        let mut pfd = libc::pollfd {
            fd: f.as_raw_fd(),
            events: libc::POLLPRI,
            revents: 0,
        };
        let changed = unsafe { libc::poll(&mut pfd, 1, 0) } > 0
            && pfd.revents & (libc::POLLPRI | libc::POLLERR) != 0;
        if !first && !changed {
            return;
        }
        let mut text = String::new();
        if f.seek(SeekFrom::Start(0)).is_err() || f.read_to_string(&mut text).is_err() {
            return;
        }
        self.learn(&parse_mountinfo(&text), Instant::now());
    }

    pub(super) fn learn(&mut self, mounts: &[Mount], now: Instant) {
        for m in mounts {
            // A bind of a subdirectory is no container root: its paths are not the layers'.
            if m.fstype == "overlay" && m.root == "/" {
                self.by_dev.insert(m.dev, (now, m.clone()));
            }
        }
        self.by_dev
            .retain(|_, (seen, _)| now.duration_since(*seen) < KEEP);
        if self.by_dev.len() > CAP {
            self.by_dev.clear();
        }
    }

    /// The overlay with device `dev` (the kernel's dev_t), as a root mount.
    pub fn root(&self, dev: u32) -> Option<Mount> {
        let (_, m) = self.by_dev.get(&split_dev(dev))?;
        Some(Mount {
            mount_point: "/".into(),
            inferred: true,
            ..m.clone()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::overlay::mounts::parse_mountinfo;

    const INFO: &str = "22 1 8:1 / / rw - ext4 /dev/vda rw\n\
        310 22 0:52 / /var/lib/docker/overlay2/abc/merged rw - overlay overlay rw,lowerdir=/l,upperdir=/u/diff,workdir=/u/work\n\
        311 22 0:52 /sub /mnt/sub rw - overlay overlay rw,lowerdir=/l,upperdir=/u/diff,workdir=/u/work\n";

    #[test]
    fn an_overlay_is_known_by_its_device_after_it_is_unmounted() {
        let mut h = HostOverlays::default();
        let t0 = Instant::now();
        h.learn(&parse_mountinfo(INFO), t0);
        let m = h.root(52).expect("0:52 is an overlay");
        assert_eq!(m.mount_point, "/");
        assert_eq!(m.upper.as_deref(), Some("/u/diff"));
        assert!(h.root(1 << 20 | 1).is_none(), "ext4 is no overlay");
        // Unmounted: still known until KEEP has passed.
        h.learn(&[], t0 + Duration::from_secs(1));
        assert!(h.root(52).is_some());
        h.learn(&[], t0 + KEEP + Duration::from_secs(1));
        assert!(h.root(52).is_none());
    }

    #[test]
    fn the_kernel_dev_t_splits_as_mountinfo_writes_it() {
        assert_eq!(split_dev(8 << 20 | 1), (8, 1));
        assert_eq!(split_dev(52), (0, 52));
    }

    #[test]
    fn this_hosts_table_is_read() {
        let mut h = HostOverlays::default();
        h.refresh();
        assert!(h.file.is_some());
        // A second look with no mount change reads nothing and keeps what it knew.
        let known = h.by_dev.len();
        h.refresh();
        assert_eq!(h.by_dev.len(), known);
    }
}
