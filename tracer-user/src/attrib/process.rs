//! What is known of a process besides its events: name, container and seccomp state.

use serde::Serialize;

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
