//! Mount tables per mount namespace, keyed by the namespace's inode that the kernel put in the
//! event's origin. Read from a living process of that namespace (the caller itself, or any
//! other) and kept, so a process gone by the drain (a one-shot `docker exec`) is resolved against
//! its own namespace's mounts, not its host-side ancestor's. A namespace gone before it was
//! ever read (a container that copied up and exited at once) is resolved against the overlay at
//! its root, known by device from the host's table (`host_overlays.rs`).

use std::{collections::HashMap, fs, os::unix::fs::MetadataExt};

use super::{
    host_overlays::{HostOverlays, split_dev},
    mounts::{Mount, mounts_of, parse_mountinfo},
};

/// A table older than this is read again (mounts change: volumes, new layers).
const FRESH_NS: u64 = 2_000_000_000;
/// Namespaces remembered, at most (a busy node's containers come and go).
const CAP: usize = 4096;

#[derive(Default)]
pub struct MountTables {
    /// namespace -> (when read, in the kernel's monotonic ns, the table).
    by_ns: HashMap<u32, (u64, Vec<Mount>)>,
    host: HostOverlays,
}

/// CLOCK_MONOTONIC in ns: the clock of the events' timestamps.
fn mono_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// The mount namespace inode of `pid`.
fn ns_of(pid: u32) -> Option<u32> {
    fs::metadata(format!("/proc/{pid}/ns/mnt"))
        .ok()
        .map(|m| m.ino() as u32)
}

/// The mount table of namespace `ns`, read from `pid` if it is still in it, else from ctrace
/// itself when it shares the namespace, else from any process that is in it. ctrace before
/// the others: a process in the same namespace under another root (a chroot, the VM tests'
/// init) sees the same mounts under other paths.
fn read(ns: u32, pid: u32) -> Option<Vec<Mount>> {
    let from = |p: u32| {
        let text = fs::read_to_string(format!("/proc/{p}/mountinfo")).ok()?;
        // Read, then checked: the process may have left (or died) in between.
        (ns_of(p) == Some(ns)).then(|| parse_mountinfo(&text))
    };
    if let Some(t) = from(pid).or_else(|| from(std::process::id())) {
        return Some(t);
    }
    fs::read_dir("/proc")
        .ok()?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&p| ns_of(p) == Some(ns))
        .find_map(from)
}

impl MountTables {
    /// Learns the host's overlays when its mount table changed: call it every tick, so that a
    /// container's overlay is seen between its mount and its unmount.
    pub fn watch(&mut self) {
        self.host.refresh();
    }

    /// The mounts `tgid` saw at `event_ns` (its namespace `ns` from the kernel; 0 without BTF
    /// offsets, then those of `viewer`, its nearest living ancestor). A table read before the
    /// event is read again: a container's namespace is set up (pivot_root) after its first calls.
    /// `root_dev` is the device at the task's root, from the kernel (0 when unknown).
    pub fn of(
        &mut self,
        ns: u32,
        tgid: u32,
        viewer: u32,
        event_ns: u64,
        root_dev: u32,
    ) -> Vec<Mount> {
        if ns == 0 {
            return mounts_of(viewer);
        }
        let now = mono_ns();
        if let Some((at, t)) = self.by_ns.get(&ns)
            && *at >= event_ns
            && now.saturating_sub(*at) < FRESH_NS
        {
            return t.clone();
        }
        match read(ns, tgid) {
            Some(t) => {
                if self.by_ns.len() >= CAP {
                    self.by_ns.clear();
                }
                self.by_ns.insert(ns, (now, t.clone()));
                t
            }
            // The namespace is gone: the last table read of it if its root was already the
            // call's (read before pivot_root, it was not), else the overlay at the call's root,
            // else the ancestor's.
            None => {
                let kept = self.by_ns.get(&ns).map(|(_, t)| t).filter(|t| {
                    root_dev == 0
                        || t.iter()
                            .any(|m| m.mount_point == "/" && m.dev == split_dev(root_dev))
                });
                match (kept, self.host.root(root_dev)) {
                    (Some(t), _) => t.clone(),
                    (None, Some(root)) => vec![root],
                    (None, None) => mounts_of(viewer),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_namespace_is_read_from_any_member_and_kept() {
        let me = std::process::id();
        let ns = ns_of(me).unwrap();
        let mut t = MountTables::default();
        // Pid 0 is no process: the table comes from another member of the namespace (us).
        let mounts = t.of(ns, 0, 0, mono_ns(), 0);
        assert!(mounts.iter().any(|m| m.mount_point == "/"));
        let read = t.by_ns[&ns].0;
        // An earlier event uses the kept table; a later one reads it again.
        t.of(ns, 0, 0, read - 1, 0);
        assert_eq!(t.by_ns[&ns].0, read);
        t.of(ns, 0, 0, mono_ns(), 0);
        assert!(t.by_ns[&ns].0 > read);
        // A namespace nobody is in, never seen: the viewer's table.
        assert_eq!(t.of(1, 0, me, 0, 0).len(), mounts_of(me).len());
    }

    #[test]
    fn a_namespace_gone_unread_is_resolved_by_the_overlay_at_its_root() {
        let me = std::process::id();
        let mut t = MountTables::default();
        let info = "310 22 0:52 / /var/lib/docker/overlay2/abc/merged rw - overlay overlay \
                    rw,lowerdir=/l,upperdir=/u/diff,workdir=/u/work\n";
        t.host
            .learn(&parse_mountinfo(info), std::time::Instant::now());
        // Namespace 1 has no member and was never read; its task's root was overlay 0:52.
        let m = t.of(1, 0, me, 0, 52);
        assert_eq!(m.len(), 1);
        assert_eq!((m[0].mount_point.as_str(), m[0].inferred), ("/", true));
        assert_eq!(m[0].upper.as_deref(), Some("/u/diff"));
        // A table kept from before its pivot_root (another root) is not used.
        t.by_ns.insert(2, (0, mounts_of(me)));
        assert!(t.of(2, 0, me, 1, 52)[0].inferred);
        // A root the host never had mounted: the viewer's table, as without the device.
        assert_eq!(t.of(1, 0, me, 0, 53).len(), mounts_of(me).len());
    }
}
