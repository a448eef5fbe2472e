//! The seccomp section of the report: containers, processes, their busiest syscalls, the
//! filter time.

use serde::Serialize;

pub use crate::cli::Sort;
use crate::hist::Bucket;

/// Syscalls that wait (for time, a child, an event, a lock): their time inside the call is
/// mostly waiting, not work, and says nothing of what seccomp costs them.
pub const BLOCKING: &[&str] = &[
    "nanosleep",
    "clock_nanosleep",
    "pause",
    "futex",
    "futex_waitv",
    "poll",
    "ppoll",
    "select",
    "pselect6",
    "epoll_wait",
    "epoll_pwait",
    "epoll_pwait2",
    "wait4",
    "waitid",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "sigsuspend",
    "accept",
    "accept4",
    "msgrcv",
    "semop",
    "semtimedop",
    "io_getevents",
    "io_pgetevents",
    "io_uring_enter",
    "flock",
];

fn is_false(b: &bool) -> bool {
    !*b
}

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
    /// A call that waits (`BLOCKING`); omitted when false.
    #[serde(skip_serializing_if = "is_false")]
    pub blocking: bool,
}

#[derive(Serialize, Debug, Clone)]
pub struct ProcessStat {
    pub pid: u32,
    pub comm: String,
    pub container_id: Option<String>,
    pub container_name: Option<String>,
    #[serde(flatten)]
    pub origin: crate::attrib::Origin,
    pub seccomp_mode: String,
    pub seccomp_filters: Option<u32>,
    pub syscalls: u64,
    pub syscalls_per_s: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_ns: Option<u64>,
    pub top: Vec<SyscallStat>,
    /// Another ctrace (trace, serve or bench): its syscalls are a tracer's, not a workload's.
    #[serde(skip_serializing_if = "is_false")]
    pub other_ctrace: bool,
    /// What its seccomp filter costs it (filtered processes with syscalls), finding or not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost: Option<Cost>,
}

/// A filter's estimated cost to a process or container, shown whether or not it crossed the
/// finding's threshold.
#[derive(Serialize, Debug, Clone, Copy, PartialEq)]
pub struct Cost {
    pub ns_per_syscall: f64,
    pub ms_lost_per_s: f64,
    pub cpu_share_pct: f64,
}

#[derive(Serialize, Debug, Clone)]
pub struct ContainerStat {
    pub container_id: String,
    pub container_name: Option<String>,
    pub runtime: String,
    #[serde(flatten)]
    pub k8s: crate::attrib::K8sNames,
    /// The seccomp mode of its processes, or "mixed".
    pub seccomp_mode: String,
    pub seccomp_filters: Option<u32>,
    pub processes: usize,
    pub syscalls: u64,
    pub syscalls_per_s: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_ns: Option<u64>,
    pub top: Vec<SyscallStat>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost: Option<Cost>,
}

/// The `seccomp` section of the report.
#[derive(Serialize, Debug, Clone)]
pub struct SeccompReport {
    pub mode: &'static str,
    /// How the tables are ranked: "count" or "time".
    pub sort: Sort,
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
    /// The sampled cost per container (cpu-clock samples in the seccomp path).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sampled: Option<super::sampled::SampledSection>,
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
