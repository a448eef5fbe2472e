//! Names from the runtimes that have no name service ctrace speaks: containerd and CRI-O (the
//! OCI bundle's annotations) and podman (containers/storage). Each container is read once and
//! kept by id, so its names outlive it for as long as its events are drained.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::k8s::{self, K8sNames};
use super::{containerd, oci, storage};

/// A container starts before its spec is found on some runtimes' schedule; unknown ids (host
/// processes that look like containers) must not cost file reads on every event.
const RETRY: Duration = Duration::from_secs(1);
/// Bounds memory under container churn; only containers no cached process uses are dropped.
const KNOWN_LIMIT: usize = 4096;

/// What a runtime's own records say about one container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// "containerd" | "cri-o" | "podman".
    pub runtime: &'static str,
    /// podman's name; for Kubernetes containers the CRI container name.
    pub name: Option<String>,
    pub k8s: K8sNames,
}

pub struct RuntimeNames {
    proc_root: PathBuf,
    /// Fixed state directories (tests); the running daemons' are added on discovery.
    fixed_states: Vec<PathBuf>,
    states: Vec<PathBuf>,
    states_at: Option<Instant>,
    storage_roots: Vec<PathBuf>,
    known: HashMap<String, Found>,
    missed: HashMap<String, Instant>,
}

impl RuntimeNames {
    pub fn new(proc_root: PathBuf) -> Self {
        let roots = storage::ROOTS.iter().map(PathBuf::from).collect();
        Self::with_roots(proc_root, Vec::new(), roots)
    }

    pub fn with_roots(
        proc_root: PathBuf,
        fixed_states: Vec<PathBuf>,
        storage_roots: Vec<PathBuf>,
    ) -> Self {
        RuntimeNames {
            proc_root,
            states: fixed_states.clone(),
            fixed_states,
            states_at: None,
            storage_roots,
            known: HashMap::new(),
            missed: HashMap::new(),
        }
    }

    /// The runtime's record of container `id`; `hint` is the runtime its cgroup path implies.
    pub fn lookup(&mut self, id: &str, hint: &str) -> Option<&Found> {
        if !self.known.contains_key(id) {
            if self.missed.get(id).is_some_and(|t| t.elapsed() < RETRY) {
                return None;
            }
            match self.read(id, hint) {
                Some(found) => {
                    self.missed.remove(id);
                    self.known.insert(id.to_string(), found);
                }
                None => {
                    if self.missed.len() >= KNOWN_LIMIT {
                        self.missed.retain(|_, t| t.elapsed() < RETRY);
                    }
                    self.missed.insert(id.to_string(), Instant::now());
                    return None;
                }
            }
        }
        self.known.get(id)
    }

    /// Beyond the bound, forgets the containers not in `live`.
    pub fn bound(&mut self, live: &HashSet<&str>) {
        if self.known.len() > KNOWN_LIMIT {
            self.known.retain(|id, _| live.contains(id.as_str()));
        }
    }

    pub fn known_count(&self) -> usize {
        self.known.len()
    }

    fn read(&mut self, id: &str, hint: &str) -> Option<Found> {
        match hint {
            "podman" | "cri-o" => self.read_storage(id, hint),
            "containerd" => self.read_containerd(id),
            _ => self
                .read_containerd(id)
                .or_else(|| self.read_storage(id, hint)),
        }
    }

    fn read_containerd(&mut self, id: &str) -> Option<Found> {
        let mut spec = containerd::bundle_spec(&self.states, id);
        // A daemon started since the last look may hold it.
        if spec.is_none() && self.states_at.is_none_or(|t| t.elapsed() >= RETRY) {
            self.rediscover();
            spec = containerd::bundle_spec(&self.states, id);
        }
        let annotations = oci::annotations(&spec?).ok()?;
        let names = k8s::from_annotations(&annotations);
        Some(Found {
            runtime: "containerd",
            name: names.k8s.k8s_container.clone(),
            k8s: names.k8s,
        })
    }

    fn rediscover(&mut self) {
        self.states_at = Some(Instant::now());
        let mut states = self.fixed_states.clone();
        for dir in containerd::state_dirs(&self.proc_root) {
            if !states.contains(&dir) {
                states.push(dir);
            }
        }
        self.states = states;
    }

    fn read_storage(&self, id: &str, hint: &str) -> Option<Found> {
        let spec = storage::spec_of(&self.storage_roots, id);
        let stored = storage::name_of(&self.storage_roots, id);
        if spec.is_none() && stored.is_none() {
            return None;
        }
        let names = spec
            .as_deref()
            .and_then(|s| oci::annotations(s).ok())
            .map(|a| k8s::from_annotations(&a))
            .unwrap_or_default();
        let runtime = match names.runtime {
            Some(r @ ("podman" | "cri-o")) => r,
            _ if hint == "cri-o" || !names.k8s.is_empty() => "cri-o",
            _ => "podman",
        };
        Some(Found {
            runtime,
            // The CRI name of a Kubernetes container, as `crictl ps` shows it.
            name: names.k8s.k8s_container.clone().or(stored),
            k8s: names.k8s,
        })
    }
}

/// The recorded CRI-O spec, for tests elsewhere in attrib.
#[cfg(test)]
pub(crate) fn crio_fixture() -> &'static std::path::Path {
    std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/attrib/testdata/crio-config.json"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    const ID: &str = "0f4b7a9c2d1e3f5a6b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c";

    fn tmp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ctrace-rt-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn containerd_cri_names_are_read_once_and_kept() {
        let state = tmp("ctd");
        let bundle = state.join("io.containerd.runtime.v2.task/k8s.io").join(ID);
        fs::create_dir_all(&bundle).unwrap();
        fs::write(
            bundle.join("config.json"),
            r#"{"ociVersion":"1.0.2","annotations":{"io.kubernetes.cri.container-name":"app",
                "io.kubernetes.cri.sandbox-name":"web-0","io.kubernetes.cri.sandbox-namespace":"shop"}}"#,
        )
        .unwrap();
        let mut rt =
            RuntimeNames::with_roots(PathBuf::from("/nonexistent"), vec![state.clone()], vec![]);
        let f = rt.lookup(ID, "kubernetes").unwrap().clone();
        assert_eq!(f.runtime, "containerd");
        assert_eq!(f.name.as_deref(), Some("app"));
        assert_eq!(f.k8s.k8s_pod.as_deref(), Some("web-0"));
        assert_eq!(f.k8s.k8s_namespace.as_deref(), Some("shop"));
        // The task is gone (the container exited): the names stay.
        fs::remove_dir_all(&state).unwrap();
        assert_eq!(rt.lookup(ID, "containerd"), Some(&f));
        assert_eq!(rt.known_count(), 1);
    }

    #[test]
    fn crio_spec_under_the_run_root() {
        let root = tmp("crio");
        let user = root.join("overlay-containers").join(ID).join("userdata");
        fs::create_dir_all(&user).unwrap();
        fs::copy(crio_fixture(), user.join("config.json")).unwrap();
        let mut rt =
            RuntimeNames::with_roots(PathBuf::from("/nonexistent"), vec![], vec![root.clone()]);
        let f = rt.lookup(ID, "cri-o").unwrap();
        assert_eq!(f.runtime, "cri-o");
        assert_eq!(f.name.as_deref(), Some("nginx"));
        assert_eq!(f.k8s.k8s_pod.as_deref(), Some("nginx-7c5ddbdf54-x2x9k"));
        assert_eq!(f.k8s.k8s_namespace.as_deref(), Some("default"));
        assert_eq!(f.k8s.k8s_container.as_deref(), Some("nginx"));
        fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn podman_name_read_storage() {
        let root = tmp("podman");
        let user = root.join("overlay-containers").join(ID).join("userdata");
        fs::create_dir_all(&user).unwrap();
        fs::write(
            user.join("config.json"),
            r#"{"annotations":{"io.container.manager":"libpod","io.kubernetes.cri-o.TTY":"false"}}"#,
        )
        .unwrap();
        fs::write(
            root.join("overlay-containers/containers.json"),
            format!(r#"[{{"id":"{ID}","names":["web"]}}]"#),
        )
        .unwrap();
        let mut rt =
            RuntimeNames::with_roots(PathBuf::from("/nonexistent"), vec![], vec![root.clone()]);
        let f = rt.lookup(ID, "podman").unwrap();
        assert_eq!((f.runtime, f.name.as_deref()), ("podman", Some("web")));
        assert!(f.k8s.is_empty());
        fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn unknown_ids_are_retried_only_after_a_while() {
        let root = tmp("late");
        let mut rt =
            RuntimeNames::with_roots(PathBuf::from("/nonexistent"), vec![], vec![root.clone()]);
        assert!(rt.lookup(ID, "podman").is_none());
        let dir = root.join("overlay-containers");
        fs::create_dir_all(&dir).unwrap();
        fs::write(
            dir.join("containers.json"),
            format!(r#"[{{"id":"{ID}","names":["late"]}}]"#),
        )
        .unwrap();
        assert!(
            rt.lookup(ID, "podman").is_none(),
            "within the retry interval"
        );
        rt.missed.clear();
        assert_eq!(
            rt.lookup(ID, "podman").unwrap().name.as_deref(),
            Some("late")
        );
        fs::remove_dir_all(root).unwrap();
    }
}
