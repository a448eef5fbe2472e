//! The seccomp section of the report: containers, processes, their busiest syscalls, the
//! filter time.

use serde::Serialize;

use crate::hist::Bucket;

#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct SyscallStat {
    pub syscall: String,
    pub nr: u32,
    pub count: u64,
    pub per_s: f64,
    /// Time inside the syscall (latency mode only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_ns: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avg_ns: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p50_ns: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p99_ns: Option<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hist_ns: Vec<Bucket>,
}

#[derive(Serialize, Debug, Clone)]
pub struct ProcessStat {
    pub pid: u32,
    pub comm: String,
    pub container_id: Option<String>,
    pub container_name: Option<String>,
    pub seccomp_mode: String,
    pub seccomp_filters: Option<u32>,
    pub syscalls: u64,
    pub syscalls_per_s: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_ns: Option<u64>,
    pub top: Vec<SyscallStat>,
}

#[derive(Serialize, Debug, Clone)]
pub struct ContainerStat {
    pub container_id: String,
    pub container_name: Option<String>,
    pub runtime: String,
    /// The seccomp mode of its processes, or "mixed".
    pub seccomp_mode: String,
    pub seccomp_filters: Option<u32>,
    pub processes: usize,
    pub syscalls: u64,
    pub syscalls_per_s: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_ns: Option<u64>,
    pub top: Vec<SyscallStat>,
}

/// The `seccomp` section of the report.
#[derive(Serialize, Debug, Clone)]
pub struct SeccompReport {
    pub mode: &'static str,
    /// Seconds the probes were attached (less than the run under a duty cycle).
    pub observed_s: f64,
    pub syscalls: u64,
    pub containers: Vec<ContainerStat>,
    pub processes: Vec<ProcessStat>,
    /// The probe tier: "tracepoint", or "fentry"/"kprobe" when the filter time is measured.
    pub tier: &'static str,
    /// Kernel tier only: each filtered process's filter time per syscall.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub filter_time: Vec<FilterTime>,
}

/// One filtered process: the filter's time per syscall as measured, and as calibrated.
#[derive(Serialize, Debug, Clone)]
pub struct FilterTime {
    pub pid: u32,
    pub comm: String,
    pub calls: u64,
    pub measured_ns_per_syscall: f64,
    /// getppid under the same filter against none (the tracepoint tier's only estimate);
    /// absent when the process exited before it could be calibrated.
    pub calibrated_ns_per_syscall: Option<f64>,
}
