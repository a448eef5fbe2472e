//! The zombie section of the report: zombies by the parent that must reap them.

use serde::Serialize;

/// Node-wide task limits.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct NodeLimits {
    pub pid_max: u64,
    pub threads_max: u64,
    pub tasks: u64,
}

#[derive(Serialize, Debug, Clone)]
pub struct GroupReport {
    pub parent_pid: u32,
    pub parent_comm: String,
    pub parent_is_pid1: bool,
    pub known_init: bool,
    pub pidns: Option<u64>,
    pub container_id: Option<String>,
    pub container_name: Option<String>,
    #[serde(flatten)]
    pub origin: crate::attrib::Origin,
    /// Zombies not reaped yet.
    pub zombies: usize,
    /// Of those, unreaped for longer than the threshold.
    pub over_threshold: usize,
    pub oldest_age_s: f64,
    /// New unreaped zombies per minute while ctrace watched.
    pub rate_per_min: f64,
    pub pids_max: Option<u64>,
    pub pids_current: Option<u64>,
    /// Processes that can still be created before the tightest limit (pids.max, pid_max, threads-max).
    pub headroom: u64,
    pub headroom_limit: &'static str,
    pub time_to_limit_s: Option<f64>,
}

#[derive(Serialize, Debug, Clone)]
pub struct ZombieRow {
    pub pid: u32,
    pub comm: String,
    pub parent_pid: u32,
    /// Seconds since the exit (or, for zombies found by the start-up scan, since first seen).
    pub age_s: f64,
    pub reaped_after_s: Option<f64>,
    /// "traced" (its exit was seen) or "scan" (it was a zombie when ctrace started).
    pub source: &'static str,
}

/// The `zombie` section of the report.
#[derive(Serialize, Debug, Clone)]
pub struct ZombieReport {
    pub threshold_s: f64,
    /// Zombies now, from the kernel's count of exits not yet freed (plus those from before
    /// the start): exact under churn, where `zombies[]` only lists those looked up in /proc.
    pub live: u64,
    pub exits: u64,
    /// Exited processes that were reaped before ctrace could look (the normal case).
    pub reaped_quickly: u64,
    /// Zombies that were reaped while ctrace watched.
    pub reaped: u64,
    pub node: NodeLimits,
    pub groups: Vec<GroupReport>,
    pub zombies: Vec<ZombieRow>,
    /// Inits whose SIGTERM/SIGINT the kernel dropped (`pid1_signal_dropped`).
    pub init_signals: Vec<super::init_signal::InitSignal>,
}
