//! `doctor`'s lines on where container names come from: the runtimes found on the node, then
//! per runtime whether ctrace can read its names, and why not when it can't.

use std::fs;
use std::path::{Path, PathBuf};

use super::{containerd, docker, storage};
use crate::check::{Check, Status, check};

const CONTAINERD_SOCKET: &str = "/run/containerd/containerd.sock";
const CRIO_SOCKET: &str = "/var/run/crio/crio.sock";
const PODMAN_SOCKET: &str = "/run/podman/podman.sock";
const CRI_DOCKERD_SOCKET: &str = "/var/run/cri-dockerd.sock";
/// In Docker's data root: Docker ran here even when its socket is gone (an empty
/// `/var/lib/docker`, as a DaemonSet's hostPath may create, does not count).
const DOCKER_CONTAINERS: &str = "/var/lib/docker/containers";

/// The `runtimes` line, then one `names_<runtime>` line for each runtime present.
pub fn checks() -> Vec<Check> {
    let socket = docker::socket();
    let states = containerd::state_dirs(Path::new("/proc"));
    let roots: Vec<PathBuf> = storage::ROOTS.iter().map(PathBuf::from).collect();
    let containerd_up = Path::new(CONTAINERD_SOCKET).exists() || states.len() > 1;
    let crio_up = Path::new(CRIO_SOCKET).exists();
    let podman_up = podman_list(&roots).is_some() || Path::new(PODMAN_SOCKET).exists();
    let docker_here = socket.exists()
        || std::env::var_os("DOCKER_HOST").is_some()
        || Path::new(DOCKER_CONTAINERS).is_dir();
    let found: Vec<String> = [
        (docker_here, "docker"),
        (containerd_up, "containerd"),
        (crio_up, "cri-o"),
        (podman_up, "podman"),
        (Path::new(CRI_DOCKERD_SOCKET).exists(), "cri-dockerd"),
    ]
    .iter()
    .filter(|(up, _)| *up)
    .map(|(_, name)| name.to_string())
    .collect();
    let mut out = vec![if found.is_empty() {
        check(
            "runtimes",
            Status::Warn,
            "no container runtime found; containers are shown by cgroup id only",
        )
    } else {
        check("runtimes", Status::Ok, found.join(", "))
    }];
    if docker_here {
        out.push(docker_check(&socket, docker::probe(&socket)));
    }
    out.extend(checks_at(containerd_up, &states, crio_up, &roots));
    out
}

fn docker_check(socket: &Path, answer: Result<String, String>) -> Check {
    match answer {
        Ok(version) => check(
            "names_docker",
            Status::Ok,
            format!(
                "{version} answers on {}: names from its event stream",
                socket.display()
            ),
        ),
        Err(why) => check(
            "names_docker",
            Status::Warn,
            format!("{why}: Docker containers are shown by id"),
        ),
    }
}

/// podman's container list in containers/storage, where one exists.
fn podman_list(roots: &[PathBuf]) -> Option<PathBuf> {
    roots.iter().find_map(|r| {
        fs::read_dir(r).ok()?.flatten().find_map(|e| {
            let list = e.path().join("containers.json");
            list.is_file().then_some(list)
        })
    })
}

fn checks_at(
    containerd_up: bool,
    states: &[PathBuf],
    crio_up: bool,
    roots: &[PathBuf],
) -> Vec<Check> {
    let mut out = Vec::new();
    if containerd_up {
        let readable: Vec<String> = states
            .iter()
            .filter(|s| fs::read_dir(s).is_ok())
            .map(|s| s.display().to_string())
            .collect();
        out.push(if readable.is_empty() {
            check(
                "names_containerd",
                Status::Warn,
                format!(
                    "containerd runs but its state directory ({}) is not readable here: Kubernetes \
                     pods and containers are shown by id (mount it read-only)",
                    states
                        .first()
                        .map_or(containerd::DEFAULT_STATE.into(), |s| s
                            .display()
                            .to_string())
                ),
            )
        } else {
            check(
                "names_containerd",
                Status::Ok,
                format!(
                    "task OCI specs (CRI annotations) under {}",
                    readable.join(", ")
                ),
            )
        });
    }
    let readable_roots: Vec<&PathBuf> = roots.iter().filter(|r| fs::read_dir(r).is_ok()).collect();
    if crio_up {
        out.push(if readable_roots.is_empty() {
            check(
                "names_crio",
                Status::Warn,
                "CRI-O runs but /run/containers/storage is not readable here: pods are shown by id \
                 (CRI-O's names are untested against a live CRI-O)",
            )
        } else {
            check(
                "names_crio",
                Status::Ok,
                "container specs in containers/storage (CRI-O's format; untested against a live CRI-O)",
            )
        });
    }
    if let Some(list) = podman_list(roots) {
        out.push(match fs::File::open(&list) {
            Ok(_) => check(
                "names_podman",
                Status::Ok,
                format!("container names from {}", list.display()),
            ),
            Err(e) => check(
                "names_podman",
                Status::Warn,
                format!("{}: {e}: podman containers are shown by id", list.display()),
            ),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_runtime_without_readable_state_says_why() {
        let gone = [PathBuf::from("/nonexistent/ctrace/state")];
        let c = checks_at(true, &gone, true, &gone);
        assert_eq!(c.len(), 2);
        assert!(c.iter().all(|c| c.status == Status::Warn), "{c:?}");
        assert!(c[0].detail.contains("not readable"), "{c:?}");
        assert!(checks_at(false, &gone, false, &gone).is_empty());
    }

    #[test]
    fn docker_says_why_it_cant_be_read() {
        let sock = Path::new("/run/docker.sock");
        let c = docker_check(sock, Err("no socket at /run/docker.sock".into()));
        assert_eq!((c.name.as_str(), c.status), ("names_docker", Status::Warn));
        assert!(c.detail.starts_with("no socket at"), "{c:?}");
        let c = docker_check(sock, Ok("Docker 28.2.2 (API 1.50)".into()));
        assert_eq!(c.status, Status::Ok);
        assert!(c.detail.contains("event stream"), "{c:?}");
    }

    #[test]
    fn readable_sources_are_named() {
        let root = std::env::temp_dir().join(format!("ctrace-sources-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(root.join("overlay-containers")).unwrap();
        fs::write(root.join("overlay-containers/containers.json"), "[]").unwrap();
        let c = checks_at(
            true,
            std::slice::from_ref(&root),
            false,
            std::slice::from_ref(&root),
        );
        let names: Vec<&str> = c.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["names_containerd", "names_podman"]);
        assert!(c.iter().all(|c| c.status == Status::Ok), "{c:?}");
        fs::remove_dir_all(root).unwrap();
    }
}
