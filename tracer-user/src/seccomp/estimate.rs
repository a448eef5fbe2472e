//! What a seccomp filter costs a container: the figures a slowdown finding is built from.

use serde::Serialize;

/// Share of one CPU lost to the filter at which a warning, and a critical finding, are raised.
pub const WARN_SHARE: f64 = 0.01;
pub const CRITICAL_SHARE: f64 = 0.10;

/// What one filter costs per syscall, as measured.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Calibration {
    pub ns_per_syscall: f64,
    pub instructions: usize,
    pub filters: usize,
}

/// The estimate for one container, and everything the finding's text is built from.
#[derive(Clone, Debug, Serialize)]
pub struct Estimate {
    pub syscalls_per_s: f64,
    pub ns_per_syscall: f64,
    pub ms_lost_per_s: f64,
    pub cpu_share: f64,
    pub instructions: usize,
    pub filters: usize,
    pub action_cache: bool,
    pub ssb: Option<String>,
    pub method: &'static str,
}
