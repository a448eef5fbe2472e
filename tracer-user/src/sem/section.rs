//! The sem section of the report: namespaces against their limits, and the sets.

use serde::Serialize;

use super::inventory::Limits;

#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq, Eq)]
pub struct EventCounts {
    pub semget: u64,
    pub semget_failed: u64,
    pub rmid: u64,
    #[serde(rename = "use")]
    pub use_: u64,
}

#[derive(Serialize, Debug, Clone)]
pub struct NsReport {
    pub ipc_ns: u64,
    /// A process in the namespace (for `nsenter --ipc --target`); null for ctrace's own.
    pub member_pid: Option<u32>,
    /// Leaked sets created while ctrace watched, per minute.
    pub leak_rate_per_min: f64,
    /// Sets that still fit under SEMMNI divided by that rate (null when nothing leaks).
    pub time_to_semmni_s: Option<f64>,
    pub container_id: Option<String>,
    pub container_name: Option<String>,
    #[serde(flatten)]
    pub origin: crate::attrib::Origin,
    pub limits: Option<Limits>,
    pub sets: usize,
    pub semaphores: u64,
    pub sets_pct: Option<f64>,
    pub semaphores_pct: Option<f64>,
    pub cookies: usize,
    pub leaked: usize,
    pub enospc_failures: u64,
}

#[derive(Serialize, Debug, Clone)]
pub struct SetReport {
    pub ipc_ns: u64,
    pub semid: i32,
    /// The IPC key in hex, as ipcs prints it.
    pub key: String,
    pub cookie: bool,
    pub nsems: i32,
    pub creator_pid: Option<u32>,
    pub creator_comm: Option<String>,
    pub container_id: Option<String>,
    pub container_name: Option<String>,
    #[serde(flatten)]
    pub origin: crate::attrib::Origin,
    pub age_s: f64,
    pub idle_s: f64,
    /// "traced" (its semget was seen) or "inventory" (it existed when ctrace started).
    pub source: &'static str,
    /// "in_use", "idle" (creator alive or recently used) or "leaked".
    pub state: &'static str,
}

/// The `sem` section of the report.
#[derive(Serialize, Debug, Clone)]
pub struct SemReport {
    pub leak_age_s: f64,
    pub events: EventCounts,
    pub namespaces: Vec<NsReport>,
    pub sets: Vec<SetReport>,
}
