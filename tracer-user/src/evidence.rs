//! Where an event's who-and-where comes from: the kernel at the event (cgroup id always; the
//! pid, mount and IPC namespaces through BTF offsets), or /proc after it (no BTF). Said in the
//! report and by `doctor`, with what the fallback misses.

use std::path::Path;

use serde::Serialize;

use crate::shared::{Check, Status, check};

/// What the fallback misses, said wherever it is in use.
pub const PROC_MISSES: &str = "a process gone before its events are read has no namespaces: \
     its container (when its cgroup path names none) and its mounts come from its nearest \
     living ancestor, or not at all";
/// Without a cgroup2 hierarchy the cgroup id is the root's for every task.
pub const NO_CGROUP2_MISSES: &str = "no cgroup2 hierarchy: containers are found from /proc and \
     namespaces, and --container filters by pid (a process joining the container is traced from \
     the next refresh, not its first syscall)";

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Evidence {
    /// "kernel" (read from the task at the event, BTF offsets) or "proc" (after the event).
    pub namespaces: &'static str,
    /// The cgroup2 mount whose ids the events carry (null: none on this host).
    pub cgroup2: Option<String>,
    /// What is lost compared with the kernel path, when anything is.
    pub misses: Vec<&'static str>,
}

impl Evidence {
    pub fn new(kernel_namespaces: bool, cgroup2: Option<&Path>) -> Evidence {
        let mut misses = Vec::new();
        if !kernel_namespaces {
            misses.push(PROC_MISSES);
        }
        if cgroup2.is_none() {
            misses.push(NO_CGROUP2_MISSES);
        }
        Evidence {
            namespaces: if kernel_namespaces { "kernel" } else { "proc" },
            cgroup2: cgroup2.map(|p| p.display().to_string()),
            misses,
        }
    }

    /// This node, as `ctrace trace` would run on it now.
    pub fn of_node() -> Evidence {
        let ids = crate::attrib::cgroup_ids::CgroupIds::new();
        Evidence::new(
            crate::btf::kernel_origin_offsets().namespaces(),
            ids.mount(),
        )
    }

    /// The report header's line.
    pub fn line(&self) -> String {
        let ns = match self.namespaces {
            "kernel" => "namespaces from the kernel at the event (BTF)",
            _ => "namespaces from /proc after the event (no BTF)",
        };
        let cg = match &self.cgroup2 {
            Some(m) => format!("cgroup ids from {m}"),
            None => "no cgroup2".into(),
        };
        format!("  evidence: {ns}, {cg}")
    }

    /// `doctor`'s line.
    pub fn check(&self) -> Check {
        let status = if self.misses.is_empty() {
            Status::Ok
        } else {
            Status::Warn
        };
        let mut text = self
            .line()
            .trim_start()
            .trim_start_matches("evidence: ")
            .to_string();
        for m in &self.misses {
            text.push_str("; ");
            text.push_str(m);
        }
        check("evidence", status, text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_path_misses_nothing() {
        let e = Evidence::new(true, Some(Path::new("/sys/fs/cgroup")));
        assert!(e.misses.is_empty());
        assert_eq!(e.check().status, Status::Ok);
        assert!(e.line().contains("from the kernel"), "{}", e.line());
    }

    #[test]
    fn fallbacks_say_what_they_miss() {
        let e = Evidence::new(false, None);
        assert_eq!(e.namespaces, "proc");
        assert_eq!(e.misses, vec![PROC_MISSES, NO_CGROUP2_MISSES]);
        let c = e.check();
        assert_eq!(c.status, Status::Warn);
        assert!(c.detail.contains("nearest living ancestor"), "{}", c.detail);
    }
}
