//! What is known of a process besides its events: name, container and seccomp state.

use aya::{
    Ebpf,
    maps::{HashMap as BpfHashMap, MapData},
};
use serde::Serialize;
use tracer_common::names;

use super::Container;

/// A process's seccomp state, from /proc/PID/status (`Seccomp:` and `Seccomp_filters:`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SeccompStatus {
    /// "disabled", "strict", "filter" or "unknown" (the process was gone before it was read).
    pub mode: String,
    pub filters: Option<u32>,
}

impl SeccompStatus {
    pub fn from_status(seccomp: Option<&str>, filters: Option<&str>) -> SeccompStatus {
        let mode = match seccomp {
            Some("0") => "disabled",
            Some("1") => "strict",
            Some("2") => "filter",
            _ => "unknown",
        };
        SeccompStatus {
            mode: mode.into(),
            filters: filters.and_then(|f| f.parse().ok()),
        }
    }
}

/// What is known of a process besides its syscalls.
#[derive(Clone, Debug, Default)]
pub struct ProcMeta {
    pub comm: String,
    pub container: Option<Container>,
    pub seccomp: SeccompStatus,
}

/// The parent the kernel recorded at fork: it outlives a process gone before /proc was read.
pub fn parent_of(ebpf: &Ebpf, pid: u32) -> Option<u32> {
    let map = BpfHashMap::<&MapData, u32, u32>::try_from(ebpf.map(names::PARENTS)?).ok()?;
    map.get(&pid, 0).ok()
}
