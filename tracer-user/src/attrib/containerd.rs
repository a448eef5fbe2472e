//! containerd's running tasks: each has its OCI bundle under the daemon's state directory,
//! `<state>/io.containerd.runtime.v2.task/<namespace>/<id>/config.json` (v1 shims:
//! `io.containerd.runtime.v1.linux`). The state directory is `/run/containerd` unless the daemon
//! was started with `--state`, which its command line in /proc tells.

use std::fs;
use std::path::{Path, PathBuf};

pub const DEFAULT_STATE: &str = "/run/containerd";
const TASK_DIRS: &[&str] = &[
    "io.containerd.runtime.v2.task",
    "io.containerd.runtime.v1.linux",
];

/// `DEFAULT_STATE` and the `--state` of every containerd running on this node.
pub fn state_dirs(proc_root: &Path) -> Vec<PathBuf> {
    let mut dirs = vec![PathBuf::from(DEFAULT_STATE)];
    let Ok(entries) = fs::read_dir(proc_root) else {
        return dirs;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name
            .to_str()
            .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        {
            continue;
        }
        // comm first: one small read rules out almost every process.
        let comm = fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        if comm.trim_end() != "containerd" {
            continue;
        }
        let Ok(cmdline) = fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        if let Some(dir) = state_flag(&cmdline)
            && !dirs.contains(&dir)
        {
            dirs.push(dir);
        }
    }
    dirs
}

/// The value of `--state` (or `-state`, `--state=DIR`) in a NUL-separated command line.
fn state_flag(cmdline: &[u8]) -> Option<PathBuf> {
    let args: Vec<&str> = cmdline
        .split(|b| *b == 0)
        .filter_map(|a| std::str::from_utf8(a).ok())
        .collect();
    args.iter().enumerate().find_map(|(i, a)| {
        let flag = a.strip_prefix("--").or_else(|| a.strip_prefix('-'))?;
        if flag == "state" {
            args.get(i + 1).map(PathBuf::from)
        } else {
            flag.strip_prefix("state=").map(PathBuf::from)
        }
    })
}

/// The bundle's config.json of task `id` under any of `states`, in any namespace.
pub fn bundle_spec(states: &[PathBuf], id: &str) -> Option<PathBuf> {
    for state in states {
        for task_dir in TASK_DIRS {
            let Ok(namespaces) = fs::read_dir(state.join(task_dir)) else {
                continue;
            };
            for ns in namespaces.flatten() {
                let spec = ns.path().join(id).join("config.json");
                if spec.is_file() {
                    return Some(spec);
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_flag_forms() {
        let parse = |args: &[&str]| state_flag(args.join("\0").as_bytes());
        assert_eq!(
            parse(&["containerd", "--address", "/s.sock", "--state", "/run/x"]),
            Some(PathBuf::from("/run/x"))
        );
        assert_eq!(
            parse(&["containerd", "--state=/run/y"]),
            Some(PathBuf::from("/run/y"))
        );
        assert_eq!(
            parse(&["containerd", "-state", "/run/z"]),
            Some(PathBuf::from("/run/z"))
        );
        assert_eq!(parse(&["containerd", "--root", "/var/lib/c"]), None);
        assert_eq!(parse(&["containerd", "--state"]), None);
    }

    #[test]
    fn bundle_in_any_namespace() {
        let state = std::env::temp_dir().join(format!("ctrace-ctd-{}", std::process::id()));
        let _ = fs::remove_dir_all(&state);
        let id = "b".repeat(64);
        let bundle = state.join("io.containerd.runtime.v2.task/k8s.io").join(&id);
        fs::create_dir_all(&bundle).unwrap();
        fs::create_dir_all(state.join("io.containerd.runtime.v2.task/default")).unwrap();
        fs::write(bundle.join("config.json"), "{}").unwrap();
        let states = [PathBuf::from("/nonexistent/ctrace"), state.clone()];
        assert_eq!(bundle_spec(&states, &id), Some(bundle.join("config.json")));
        assert_eq!(bundle_spec(&states, &"c".repeat(64)), None);
        fs::remove_dir_all(state).unwrap();
    }

    #[test]
    fn default_state_is_always_listed() {
        let dirs = state_dirs(Path::new("/nonexistent/ctrace/proc"));
        assert_eq!(dirs, vec![PathBuf::from(DEFAULT_STATE)]);
        assert!(state_dirs(Path::new("/proc")).contains(&PathBuf::from(DEFAULT_STATE)));
    }
}
