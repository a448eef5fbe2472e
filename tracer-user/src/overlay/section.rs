//! The overlay section of the report, and the records it lists.

use serde::Serialize;

use crate::{attrib::Container, hist::Bucket};

#[derive(Clone, Debug, Default, Serialize)]
pub struct CopyUp {
    pub at: f64,
    pub pid: u32,
    pub comm: String,
    #[serde(skip)]
    pub container: Option<Container>,
    /// The path as the process sees it.
    pub path: String,
    pub size: u64,
    /// Latency of the syscall that triggered it.
    pub latency_ns: u64,
    /// Kernel tier: the copy-up function's own time in that call (files and ancestors).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub copy_up_ns: Option<u64>,
    /// open, truncate, chmod, chown, setxattr, link or rename.
    pub trigger: String,
    pub upper: String,
    pub upper_free: Option<u64>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct ExdevRename {
    pub at: f64,
    pub pid: u32,
    pub comm: String,
    #[serde(skip)]
    pub container: Option<Container>,
    pub source: String,
    pub target: String,
    pub source_is_lower_dir: bool,
    /// /sys/module/overlay/parameters/redirect_dir.
    pub redirect_dir_param: Option<String>,
    /// The mount's own redirect_dir option.
    pub mount_redirect_dir: Option<String>,
}

#[derive(Serialize, Debug, Clone)]
pub struct GroupReport {
    pub container_id: Option<String>,
    pub container_name: Option<String>,
    #[serde(flatten)]
    pub origin: crate::attrib::Origin,
    pub copy_ups: usize,
    pub bytes: u64,
    pub p50_latency_ns: u64,
    pub p99_latency_ns: u64,
    pub latency_hist_ns: Vec<Bucket>,
    pub largest: Vec<CopyUp>,
    pub upper_free: Option<u64>,
    pub exdev_renames: usize,
}

/// The `overlay` section of the report.
#[derive(Serialize, Debug, Clone)]
pub struct OverlayReport {
    /// Calls on overlay-relevant syscalls that were checked for a copy-up.
    pub checked: u64,
    pub copy_ups: usize,
    pub bytes: u64,
    pub p99_latency_ns: u64,
    pub latency_hist_ns: Vec<Bucket>,
    pub groups: Vec<GroupReport>,
    pub exdev: Vec<ExdevRename>,
    /// "tracepoint", or "kprobe" when copy-ups are also timed in the kernel.
    pub tier: &'static str,
    /// Kernel tier: the tracepoint tier's answer checked against the kernel's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tier_check: Option<super::kernel_tier::TierCheck>,
}
