//! What the seccomp numbers mean, and what the probes can't see; shown in the human report.

/// Shown under the seccomp section of every human report.
pub const CAVEATS: &str = "\
Latency is measured from raw_syscalls:sys_enter to sys_exit. sys_enter fires after the seccomp
filter has run, so the filter's own cost is not inside these numbers: compare syscall rates and
latencies between containers with and without a filter to see what it costs.
Enabling syscall tracepoints sends every task through the slow syscall entry path, so while
ctrace traces, all tasks pay the same per-syscall entry cost a seccomp filter forces.";
