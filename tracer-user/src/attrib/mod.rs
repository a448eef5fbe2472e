//! Attribution: which container a process belongs to, and its name.

pub mod cgroup;
pub mod docker;

use std::{collections::HashMap, fs, os::unix::fs::MetadataExt as _};

use anyhow::{Result, bail};
use serde::Serialize;

use self::{cgroup::container_from_cgroup, docker::DockerNames};

const DOCKER_SOCKET: &str = "/var/run/docker.sock";
const CACHE_MAX: usize = 65536;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Container {
    /// The full id, or `pidns:<inode>` for a pid namespace with no container cgroup.
    pub id: String,
    pub name: Option<String>,
    pub runtime: String,
}

pub struct Attributor {
    docker: DockerNames,
    cache: HashMap<u32, Option<Container>>,
    own_pidns: Option<u64>,
}

fn pidns_of(pid: &str) -> Option<u64> {
    fs::metadata(format!("/proc/{pid}/ns/pid"))
        .ok()
        .map(|m| m.ino())
}

fn proc_pids() -> Vec<u32> {
    fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

impl Default for Attributor {
    fn default() -> Self {
        Self::new()
    }
}

impl Attributor {
    pub fn new() -> Self {
        Attributor {
            docker: DockerNames::new(DOCKER_SOCKET.into()),
            cache: HashMap::new(),
            own_pidns: pidns_of("self"),
        }
    }

    /// Without the cache: the container id and runtime of a live process.
    fn lookup(&self, tgid: u32) -> Option<(String, String)> {
        let text = fs::read_to_string(format!("/proc/{tgid}/cgroup")).ok()?;
        if let Some(c) = container_from_cgroup(&text) {
            return Some((c.id, c.runtime.to_string()));
        }
        let ns = pidns_of(&tgid.to_string())?;
        (Some(ns) != self.own_pidns).then(|| (format!("pidns:{ns}"), "pidns".to_string()))
    }

    pub fn container_of(&mut self, tgid: u32) -> Option<Container> {
        if let Some(c) = self.cache.get(&tgid) {
            return c.clone();
        }
        let c = self.lookup(tgid).map(|(id, runtime)| {
            let name = if runtime == "docker" {
                self.docker.name_of(&id)
            } else {
                None
            };
            Container { id, name, runtime }
        });
        if self.cache.len() >= CACHE_MAX {
            self.cache.clear();
        }
        self.cache.insert(tgid, c.clone());
        c
    }

    /// Full id from a docker name, a full id, an id prefix (4+ chars) or `pidns:<inode>`.
    pub fn resolve_container(&mut self, id_or_name: &str) -> Result<String> {
        if let Some(id) = self.docker.resolve(id_or_name) {
            return Ok(id);
        }
        let want = id_or_name.to_ascii_lowercase();
        if want.len() >= 4 {
            let mut hits: Vec<String> = proc_pids()
                .into_iter()
                .filter_map(|p| self.lookup(p).map(|(id, _)| id))
                .filter(|id| id.starts_with(&want))
                .collect();
            hits.sort();
            hits.dedup();
            if hits.len() == 1 {
                return Ok(hits.remove(0));
            }
            if hits.len() > 1 {
                bail!(
                    "ambiguous container: {id_or_name} matches {} containers",
                    hits.len()
                );
            }
        }
        bail!("unknown container: {id_or_name}")
    }

    /// Live processes whose container id is `id`.
    pub fn pids_in_container(&mut self, id: &str) -> Vec<u32> {
        proc_pids()
            .into_iter()
            .filter(|&p| self.lookup(p).is_some_and(|(cid, _)| cid == id))
            .collect()
    }
}
