//! Cgroup ids (what `bpf_get_current_cgroup_id` gives the probes) to cgroup paths, in the
//! unified (cgroup2) hierarchy. A cgroup's id is the inode number of its directory, so a walk
//! of the cgroup2 mount at start learns every existing one, and the `cgroup:cgroup_mkdir`
//! tracepoint each new one as it is born: a path is known even after its cgroup is removed.
//!
//! On this project's hybrid v1/v2 hosts the cgroup2 mount is /sys/fs/cgroup/unified, and runc
//! puts a container's processes in /docker/<id> there as well as in each v1 hierarchy; on a
//! cgroup2-only host it is /sys/fs/cgroup. Without a cgroup2 mount every task reports the root
//! (id 1) and attribution falls back to /proc.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The root cgroup's id: every task on a host without cgroup2.
pub const ROOT_ID: u64 = 1;
/// Deep enough for Kubernetes' pod slices and podman's `container` subgroup.
const MAX_DEPTH: usize = 8;
/// A busy node's worth of cgroups, kept after they are removed.
const LIMIT: usize = 1 << 16;
/// An unknown id triggers a rescan at most this often.
const RESCAN_EVERY: Duration = Duration::from_millis(500);

/// Where the unified hierarchy is mounted, from mountinfo text (fstype after the " - ").
pub fn cgroup2_mount(mountinfo: &str) -> Option<PathBuf> {
    let mut found = None;
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        if right.split_whitespace().next() != Some("cgroup2") {
            continue;
        }
        let Some(point) = left.split_whitespace().nth(4) else {
            continue;
        };
        // /sys/fs/cgroup itself wins over /sys/fs/cgroup/unified when both show up.
        let better = match &found {
            None => true,
            Some(p) => Path::new(point).components().count() < Path::new(&p).components().count(),
        };
        if better {
            found = Some(point.to_string());
        }
    }
    found.map(PathBuf::from)
}

pub struct CgroupIds {
    root: Option<PathBuf>,
    paths: HashMap<u64, String>,
    last_scan: Option<Instant>,
}

impl CgroupIds {
    pub fn new() -> CgroupIds {
        let root = fs::read_to_string("/proc/self/mountinfo")
            .ok()
            .and_then(|t| cgroup2_mount(&t));
        CgroupIds::at(root)
    }

    /// `root`: the cgroup2 mount point (None: no unified hierarchy here).
    pub fn at(root: Option<PathBuf>) -> CgroupIds {
        CgroupIds {
            root,
            paths: HashMap::new(),
            last_scan: None,
        }
    }

    pub fn mount(&self) -> Option<&Path> {
        self.root.as_deref()
    }

    /// A cgroup born (`cgroup_mkdir`), its path relative to the hierarchy's root.
    pub fn learn(&mut self, id: u64, path: &str) {
        if self.paths.len() >= LIMIT {
            self.paths.clear();
            self.last_scan = None;
        }
        self.paths.insert(id, path.to_string());
    }

    /// The cgroup path (`/docker/<id>`) of `id`, rescanning the tree when it is not known yet.
    pub fn path(&mut self, id: u64) -> Option<&str> {
        if id <= ROOT_ID {
            return None;
        }
        if !self.paths.contains_key(&id) && self.due() {
            self.scan();
        }
        self.paths.get(&id).map(String::as_str)
    }

    fn due(&self) -> bool {
        self.last_scan.is_none_or(|t| t.elapsed() >= RESCAN_EVERY)
    }

    /// Every (id, path) known.
    pub fn known(&self) -> impl Iterator<Item = (u64, &str)> {
        self.paths.iter().map(|(k, v)| (*k, v.as_str()))
    }

    /// Walks the cgroup2 tree: every directory's inode is its cgroup's id.
    pub fn scan(&mut self) {
        self.last_scan = Some(Instant::now());
        let Some(root) = self.root.clone() else {
            return;
        };
        let mut stack = vec![(root.clone(), 0usize)];
        while let Some((dir, depth)) = stack.pop() {
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            for e in entries.flatten() {
                if !e.file_type().is_ok_and(|t| t.is_dir()) {
                    continue;
                }
                let p = e.path();
                if let (Ok(meta), Ok(rel)) = (e.metadata(), p.strip_prefix(&root)) {
                    let rel = format!("/{}", rel.display());
                    self.paths.insert(meta.ino(), rel);
                }
                if depth + 1 < MAX_DEPTH {
                    stack.push((p, depth + 1));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
35 24 0:30 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
36 35 0:31 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw
37 35 0:32 / /sys/fs/cgroup/memory rw,relatime shared:11 - cgroup cgroup rw,memory
";
    const V2: &str = "\
30 24 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate
";
    const V1: &str = "\
37 35 0:32 / /sys/fs/cgroup/memory rw,relatime shared:11 - cgroup cgroup rw,memory
";

    #[test]
    fn mount_of_each_layout() {
        assert_eq!(cgroup2_mount(HYBRID), Some("/sys/fs/cgroup/unified".into()));
        assert_eq!(cgroup2_mount(V2), Some("/sys/fs/cgroup".into()));
        assert_eq!(cgroup2_mount(V1), None);
        assert_eq!(cgroup2_mount(""), None);
    }

    /// A directory tree stands in for the cgroup2 mount: ids are inode numbers either way.
    #[test]
    fn scan_learns_ids_and_keeps_removed_ones() {
        let root = std::env::temp_dir().join(format!("ctrace-cg-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let id = "3f5a0c1e9b7d2468ace013579bdf02468ace13579bdf02468ace13579bdf0246";
        let leaf = root.join("docker").join(id);
        fs::create_dir_all(&leaf).unwrap();
        let ino = fs::metadata(&leaf).unwrap().ino();
        let mut ids = CgroupIds::at(Some(root.clone()));
        assert_eq!(ids.path(ino), Some(format!("/docker/{id}").as_str()));
        fs::remove_dir_all(&root).unwrap();
        assert_eq!(ids.path(ino), Some(format!("/docker/{id}").as_str()));
        ids.learn(99, "/system.slice/docker-x.scope");
        assert_eq!(ids.path(99), Some("/system.slice/docker-x.scope"));
        assert_eq!(ids.path(ROOT_ID), None);
        assert_eq!(CgroupIds::at(None).path(5), None);
    }
}
