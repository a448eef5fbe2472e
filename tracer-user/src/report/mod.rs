//! The report: one structure rendered as human text or as one JSON document.
//!
//! The JSON shape is a contract: later problems add keys, never rename or remove them.

mod overlay_text;
mod sem_text;
mod sigpipe_text;
pub mod text;
mod zombie_text;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::{
    overlay::analyzer::OverlayReport, seccomp::analyzer::SeccompReport, sem::analyzer::SemReport,
    sigpipe::analyzer::SigpipeReport, zombie::analyzer::ZombieReport,
};

#[derive(Serialize, Debug, Clone)]
pub struct ProbeInfo {
    pub problem: String,
    pub attach_type: String,
    /// "tracepoint", or the kernel-function tier ("fentry", "kprobe") chosen at start.
    pub tier: String,
    pub programs: Vec<String>,
}

#[derive(Serialize, Debug, Clone, Default)]
pub struct Subject {
    pub pid: Option<u32>,
    pub comm: Option<String>,
    pub container_id: Option<String>,
    pub container_name: Option<String>,
}

#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
#[allow(
    dead_code,
    reason = "info is part of the report contract; no finding raises it yet"
)]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

#[derive(Serialize, Debug, Clone)]
pub struct Finding {
    pub kind: &'static str,
    pub severity: Severity,
    pub subject: Subject,
    pub evidence: serde_json::Value,
    pub explanation: String,
    pub remediation: String,
}

/// The whole report. `events` and `drops` have one key per attached problem.
#[derive(Serialize, Debug, Clone)]
pub struct Report {
    pub version: &'static str,
    pub kernel: String,
    pub probes: Vec<ProbeInfo>,
    pub duration_s: f64,
    pub events: BTreeMap<String, u64>,
    pub drops: BTreeMap<String, u64>,
    /// Why events were dropped, by reason, when any were.
    pub drop_reasons: BTreeMap<String, u64>,
    pub findings: Vec<Finding>,
    /// Percentage of each interval the syscall probes were attached.
    pub duty_cycle_pct: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seccomp: Option<SeccompReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sem: Option<SemReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zombie: Option<ZombieReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sigpipe: Option<SigpipeReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overlay: Option<OverlayReport>,
    /// ctrace's own kernel cost: map bytes, and program run time when bpf stats are on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bpf: Option<crate::bpf_cost::BpfCost>,
}

impl Report {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("report serializes")
    }
}
