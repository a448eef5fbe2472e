//! What the report says of each attached problem's probes.

use serde::Serialize;

#[derive(Serialize, Debug, Clone)]
pub struct ProbeInfo {
    pub problem: String,
    pub attach_type: String,
    /// "tracepoint", or the kernel-function tier ("fentry", "kprobe") chosen at start.
    pub tier: String,
    pub programs: Vec<String>,
}
