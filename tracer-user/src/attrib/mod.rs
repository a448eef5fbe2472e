//! Attribution of processes to containers: the cgroup path names the
//! container, docker (its API), containerd and CRI-O (the OCI bundle's annotations) and podman
//! (containers/storage) supply its names, and a foreign pid namespace is the fallback for
//! containers whose cgroup path reveals nothing.

pub mod cgroup;
pub mod cgroup_ids;
mod containerd;
pub mod docker;
mod docker_events;
mod docker_names;
pub mod feed;
mod k8s;
pub mod name_sources;
mod oci;
mod origin;
mod process;
mod runtimes;
mod storage;

pub use k8s::K8sNames;
pub use origin::Origin;
pub use process::{ProcMeta, SeccompStatus, parent_of};

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use docker::DockerNames;
use runtimes::RuntimeNames;

/// Bounds memory on hosts with heavy pid churn; refilling is cheap.
const CACHE_LIMIT: usize = 65536;

/// The container a process runs in.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Container {
    /// Full container id, or `pidns:<inode>` when only the pid namespace tells.
    pub id: String,
    pub name: Option<String>,
    /// "docker" | "containerd" | "cri-o" | "podman" | "kubernetes" (a Kubernetes cgroup whose
    /// runtime ctrace could not find) | "pidns".
    pub runtime: String,
    /// Set for Kubernetes containers whose runtime's records ctrace read.
    #[serde(flatten)]
    pub k8s: K8sNames,
}

/// Maps processes to containers, caching the answer per tgid.
///
/// Callers should `forget` a tgid when it exits or execs: pids are reused, and
/// a process may join its container's cgroup after its first event.
pub struct Attributor {
    proc_root: PathBuf,
    docker: DockerNames,
    runtimes: RuntimeNames,
    own_pidns: Option<u64>,
    cache: HashMap<u32, Option<Container>>,
    /// Cgroup ids to paths (the cgroup2 hierarchy).
    cgroups: cgroup_ids::CgroupIds,
    /// Containers by cgroup id, kept after they are gone: events are attributed from the id
    /// the kernel took at the event, whether the process still lives or not.
    by_cgroup: HashMap<u64, Container>,
    /// The `cgroup_mkdir` probe's records (id, path), drained before every lookup.
    cgroup_feed: Option<feed::CgroupFeed>,
}

impl Default for Attributor {
    fn default() -> Self {
        Self::new()
    }
}

impl Attributor {
    pub fn new() -> Self {
        Self::with_paths(PathBuf::from("/proc"), docker::socket())
    }

    /// Separate roots let tests use a fake /proc tree and docker socket.
    fn with_paths(proc_root: PathBuf, docker_socket: PathBuf) -> Self {
        let own_pidns = pidns_inode(&proc_root.join("self")).ok();
        Attributor {
            runtimes: RuntimeNames::new(proc_root.clone()),
            proc_root,
            docker: DockerNames::new(docker_socket),
            own_pidns,
            cache: HashMap::new(),
            cgroups: cgroup_ids::CgroupIds::new(),
            by_cgroup: HashMap::new(),
            cgroup_feed: None,
        }
    }

    /// The container an event's process ran in, from what the kernel took at the event: its
    /// cgroup id first (the process may be gone), then its pid namespace, and /proc only when
    /// the kernel could not read namespaces (no BTF): then `viewer`'s (the process, or its
    /// nearest living ancestor).
    pub fn container_of_origin(
        &mut self,
        o: &tracer_common::Origin,
        viewer: u32,
    ) -> Option<Container> {
        self.drain_cgroups();
        if let Some(c) = self.by_cgroup_id(o.cgroup_id) {
            return Some(c);
        }
        if o.pidns == 0 {
            return self.container_of(viewer);
        }
        match self.own_pidns {
            Some(own) if own != u64::from(o.pidns) => Some(Container {
                id: format!("pidns:{}", o.pidns),
                name: None,
                runtime: "pidns".to_string(),
                k8s: K8sNames::default(),
            }),
            _ => None,
        }
    }

    /// The container whose cgroup has this id, named once and then kept.
    fn by_cgroup_id(&mut self, id: u64) -> Option<Container> {
        if let Some(c) = self.by_cgroup.get(&id) {
            if c.name.is_some() {
                return Some(c.clone());
            }
            let mut c = c.clone();
            self.add_names(&mut c);
            self.by_cgroup.insert(id, c.clone());
            return Some(c);
        }
        let path = self.cgroups.path(id)?.to_string();
        self.learn_container(id, &path)
    }

    fn learn_container(&mut self, id: u64, path: &str) -> Option<Container> {
        let found = cgroup::container_from_path(path)?;
        let mut c = Container {
            id: found.id,
            name: None,
            runtime: found.runtime.to_string(),
            k8s: K8sNames::default(),
        };
        self.add_names(&mut c);
        if self.by_cgroup.len() >= CACHE_LIMIT {
            self.by_cgroup.clear();
        }
        self.by_cgroup.insert(id, c.clone());
        Some(c)
    }

    /// Takes the `cgroup_mkdir` records from now on.
    pub fn set_cgroup_feed(&mut self, feed: feed::CgroupFeed) {
        self.cgroup_feed = Some(feed);
    }

    /// Learns the cgroups born since the last call, and names their containers while they
    /// live (a container that exits at once is still named in its events).
    pub fn drain_cgroups(&mut self) {
        let Some(feed) = self.cgroup_feed.as_mut() else {
            return;
        };
        for (id, path) in feed.drain() {
            self.cgroups.learn(id, &path);
            self.learn_container(id, &path);
        }
    }

    /// Walks the cgroup tree (start-up): every running container's cgroup id is known.
    pub fn scan_cgroups(&mut self) {
        self.cgroups.scan();
    }

    /// The cgroup2 mount, if this host has one (doctor and the report say which is used).
    pub fn cgroup2_mount(&self) -> Option<&Path> {
        self.cgroups.mount()
    }

    /// Cgroup ids of container `id` known so far (the in-kernel --container filter).
    pub fn cgroup_ids_of(&mut self, id: &str) -> Vec<u64> {
        self.drain_cgroups();
        let mut ids: Vec<u64> = self
            .cgroups
            .known()
            .filter(|(_, path)| cgroup::container_from_path(path).is_some_and(|c| c.id == id))
            .map(|(k, _)| k)
            .collect();
        ids.sort_unstable();
        ids
    }

    /// The container of process `tgid`, or None for host processes and
    /// processes that no longer exist.
    pub fn container_of(&mut self, tgid: u32) -> Option<Container> {
        if let Some(cached) = self.cache.get(&tgid) {
            // Runtimes list a container only moments after its first process
            // runs, so a missing name is retried (each source rate-limits this).
            let Some(c) = cached else {
                return None;
            };
            if c.name.is_some() || c.runtime == "pidns" {
                return cached.clone();
            }
            let mut c = c.clone();
            self.add_names(&mut c);
            self.cache.insert(tgid, Some(c.clone()));
            return Some(c);
        }
        // A vanished process is not cached: its pid may be reused.
        let mut found = self.identify(tgid).ok()?;
        if let Some(c) = &mut found {
            self.add_names(c);
        }
        if self.cache.len() >= CACHE_LIMIT {
            self.cache.clear();
        }
        self.cache.insert(tgid, found.clone());
        if self.runtimes.known_count() > CACHE_LIMIT / 16 {
            let live: HashSet<&str> = self
                .cache
                .values()
                .flatten()
                .map(|c| c.id.as_str())
                .collect();
            self.runtimes.bound(&live);
        }
        found
    }

    /// Names from the runtime the cgroup path implies: its records first (they also refine a
    /// bare Kubernetes id's runtime), then Docker's API for ids Docker may know.
    fn add_names(&mut self, c: &mut Container) {
        if c.runtime == "pidns" {
            return;
        }
        if c.runtime != "docker"
            && let Some(found) = self.runtimes.lookup(&c.id, &c.runtime)
        {
            c.runtime = found.runtime.to_string();
            c.name = found.name.clone();
            c.k8s = found.k8s.clone();
            return;
        }
        if uses_docker(&c.runtime) {
            c.name = self.docker.name_of(&c.id);
        }
    }

    /// Waits briefly for Docker's first container list (one-off commands; see `DockerNames`).
    pub fn settle(&self) {
        self.docker.settle();
    }

    /// Drops the cached answer for `tgid`.
    /// A process was reaped: its pid may be reused by an unrelated process.
    pub fn forget(&mut self, tgid: u32) {
        self.cache.remove(&tgid);
    }

    /// Drops the cached answers of processes that are gone (a long-lived agent's bound).
    pub fn forget_dead(&mut self) {
        let root = &self.proc_root;
        self.cache
            .retain(|pid, _| root.join(pid.to_string()).exists());
    }

    /// Full container id from a docker name, a full id, an id prefix of at
    /// least 4 hex characters, or `pidns:<inode>`.
    pub fn resolve_container(&mut self, id_or_name: &str) -> anyhow::Result<String> {
        if let Some(id) = self.docker.resolve(id_or_name) {
            return Ok(id);
        }
        // Other runtimes have no name service here; running processes tell
        // which containers exist, and their runtimes' records name them.
        let ids: BTreeSet<String> = self.scan().into_iter().map(|(_, c)| c.id).collect();
        if ids.contains(id_or_name) {
            return Ok(id_or_name.to_string());
        }
        let mut named = Vec::new();
        for (_, mut c) in self.scan() {
            self.add_names(&mut c);
            if c.name.as_deref() == Some(id_or_name) && !named.contains(&c.id) {
                named.push(c.id);
            }
        }
        match &named[..] {
            [id] => return Ok(id.clone()),
            [_, _, ..] => return Err(usage(format!("ambiguous container name: {id_or_name}"))),
            [] => {}
        }
        if id_or_name.len() >= 4 && id_or_name.bytes().all(|b| b.is_ascii_hexdigit()) {
            let prefix = id_or_name.to_ascii_lowercase();
            let hits: Vec<&String> = ids.iter().filter(|id| id.starts_with(&prefix)).collect();
            match hits[..] {
                [id] => return Ok(id.clone()),
                [_, _, ..] => {
                    return Err(usage(format!(
                        "ambiguous container id prefix: {id_or_name}"
                    )));
                }
                [] => {}
            }
        }
        if (1..4).contains(&id_or_name.len()) && id_or_name.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(crate::out::Usage(format!(
                "--container {id_or_name}: no container has that name, and an id prefix needs at least 4 characters"
            ))
            .into());
        }
        Err(usage(format!("unknown container: {id_or_name}")))
    }

    /// Tgids of the running processes in container `id` (a full id or `pidns:<inode>`).
    pub fn pids_in_container(&mut self, id: &str) -> Vec<u32> {
        let mut pids: Vec<u32> = self
            .scan()
            .into_iter()
            .filter(|(_, c)| c.id == id)
            .map(|(pid, _)| pid)
            .collect();
        pids.sort_unstable();
        pids
    }

    /// Fresh (uncached) attribution of every process in /proc; the cache may
    /// hold answers for pids since reused, which a one-off scan must not trust.
    fn scan(&self) -> Vec<(u32, Container)> {
        let Ok(dir) = fs::read_dir(&self.proc_root) else {
            return Vec::new();
        };
        dir.flatten()
            .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
            .filter_map(|pid| Some((pid, self.identify(pid).ok()??)))
            .collect()
    }

    /// Ok(None) for a host process; Err when the process is gone.
    fn identify(&self, tgid: u32) -> io::Result<Option<Container>> {
        let dir = self.proc_root.join(tgid.to_string());
        let text = fs::read_to_string(dir.join("cgroup"))?;
        if let Some(found) = cgroup::container_from_cgroup(&text) {
            return Ok(Some(Container {
                id: found.id,
                name: None,
                runtime: found.runtime.to_string(),
                k8s: K8sNames::default(),
            }));
        }
        // Sandboxes, unknown runtimes and cgroup namespaces hide the id, but
        // a pid namespace other than ours still marks a container.
        let Some(own) = self.own_pidns else {
            return Ok(None);
        };
        match pidns_inode(&dir) {
            Ok(ns) if ns != own => Ok(Some(Container {
                id: format!("pidns:{ns}"),
                name: None,
                runtime: "pidns".to_string(),
                k8s: K8sNames::default(),
            })),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(e),
            // E.g. no permission to inspect it: treat as a host process.
            Err(_) => Ok(None),
        }
    }
}

/// Runtimes whose ids docker may know: kubernetes with the dockershim uses
/// bare ids under kubepods.
fn uses_docker(runtime: &str) -> bool {
    matches!(runtime, "docker" | "kubernetes")
}

/// The nsfs inode identifying the pid namespace of the process at `proc_dir`.
fn pidns_inode(proc_dir: &Path) -> io::Result<u64> {
    Ok(fs::metadata(proc_dir.join("ns/pid"))?.ino())
}

#[cfg(test)]
mod origin_tests;

#[cfg(test)]
#[path = "attributor_tests.rs"]
mod tests;

/// A `--container` the user typed that names no single container: exit 2.
fn usage(msg: String) -> anyhow::Error {
    crate::out::Usage(msg).into()
}
