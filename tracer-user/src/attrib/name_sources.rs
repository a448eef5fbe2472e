//! `doctor`'s lines on where container names come from, per runtime found on the node: whether
//! ctrace can read them, and why not when it can't.

use std::fs;
use std::path::{Path, PathBuf};

use super::{containerd, storage};
use crate::shared::{Check, Status, check};

const CONTAINERD_SOCKET: &str = "/run/containerd/containerd.sock";
const CRIO_SOCKET: &str = "/var/run/crio/crio.sock";

/// One `names_<runtime>` line for containerd, CRI-O and podman where each is present.
pub fn checks() -> Vec<Check> {
    let states = containerd::state_dirs(Path::new("/proc"));
    let roots: Vec<PathBuf> = storage::ROOTS.iter().map(PathBuf::from).collect();
    checks_at(
        Path::new(CONTAINERD_SOCKET).exists() || states.len() > 1,
        &states,
        Path::new(CRIO_SOCKET).exists(),
        &roots,
    )
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
                "CRI-O runs but /run/containers/storage is not readable here: pods are shown by id",
            )
        } else {
            check(
                "names_crio",
                Status::Ok,
                "container specs in containers/storage (CRI-O's format; untested against a live CRI-O)",
            )
        });
    }
    let podman_list = readable_roots.iter().find_map(|r| {
        fs::read_dir(r).ok()?.flatten().find_map(|e| {
            let list = e.path().join("containers.json");
            list.is_file().then_some(list)
        })
    });
    if let Some(list) = podman_list {
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
