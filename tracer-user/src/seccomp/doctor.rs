//! seccomp's part of `ctrace doctor`: the tier its filter-time probes really attach at.

use aya::Ebpf;

use super::filter_time::FilterProbe;
use crate::{
    shared::{Check, Status, check},
    tier::{Features, Tier},
};

/// The tier, found by attaching the kernel-tier programs for real.
pub fn tier_check(ebpf: &mut Ebpf, f: Features, wish: Option<Tier>) -> Check {
    match FilterProbe::attach(ebpf, f, wish) {
        Ok(Some(mut p)) => {
            p.detach(ebpf);
            let how = if p.tier == Tier::Fentry {
                "fentry/fexit"
            } else {
                "kprobe/kretprobe"
            };
            check(
                "tier:seccomp",
                Status::Ok,
                format!(
                    "{} ({how} on __secure_computing: the filter's own time per syscall)",
                    p.tier.name()
                ),
            )
        }
        Ok(None) => check(
            "tier:seccomp",
            Status::Ok,
            "tracepoint (fentry/kprobe on __secure_computing refused here: the filter time is calibrated)",
        ),
        Err(e) => check("tier:seccomp", Status::Fail, format!("{e:#}")),
    }
}
