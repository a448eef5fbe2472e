//! overlay, kernel tier: kprobe/kretprobe on `ovl_copy_up_one` time every real copy-up inside
//! the traced call, so the tracepoint tier's answer (a copy-up proven from the upper layer,
//! timed by its whole syscall) can be checked against the kernel's own on the same workload.

use anyhow::{Result, anyhow};
use aya::{
    Ebpf,
    maps::{MapData, PerCpuArray},
};
use serde::Serialize;
use tracer_common::overlay::{COPY_UP_FN, COPY_UP_MISSED};

use crate::{
    attach::{self, AttachType, Attachment, Target},
    problem::Problem,
    tier::{self, Features, Tier},
};

const PROGRAMS: [&str; 2] = ["overlay_copy_up_enter", "overlay_copy_up_exit"];

/// Both tiers' answers for the same run.
#[derive(Serialize, Debug, Clone, Default)]
pub struct TierCheck {
    /// Copy-ups the kernel made inside traced calls (files and ancestor directories).
    pub kernel_copy_ups: u64,
    /// Copy-ups the kernel made inside calls the tracepoint tier does not watch.
    pub outside_traced_calls: u64,
    pub outside_traced_ns: u64,
    /// Proven copy-ups that the kernel also timed, and those it did not (false positives).
    pub proven_and_timed: usize,
    pub proven_not_timed: usize,
    /// Calls in which the kernel copied a file up that the proof missed (directories included).
    pub timed_not_proven: u64,
    /// Over proven_and_timed: syscall time (the tracepoint tier's latency) and copy-up time.
    pub syscall_ns: u64,
    pub copy_up_ns: u64,
    /// Median of (syscall time − copy-up time) per copy-up: the tracepoint tier's error.
    pub p50_overhead_ns: u64,
    pub max_overhead_ns: u64,
}

pub struct CopyUpProbe {
    links: Vec<Attachment>,
}

impl CopyUpProbe {
    /// The kprobe tier when it attaches (the overlay module must be loaded); None: tracepoints.
    pub fn attach(ebpf: &mut Ebpf, f: Features, wish: Option<Tier>) -> Result<Option<CopyUpProbe>> {
        let plan = tier::plan(Problem::Overlay, f, wish).map_err(|e| anyhow!(e))?;
        let mut errors = Vec::new();
        for t in plan {
            if t == Tier::Tracepoint {
                return Ok(None);
            }
            let target = Target {
                category: "",
                name: COPY_UP_FN,
            };
            let mut links = Vec::new();
            let res = PROGRAMS.into_iter().try_for_each(|p| {
                links.push(attach::attach(ebpf, p, AttachType::Kprobe, target)?);
                anyhow::Ok(())
            });
            match res {
                Ok(()) => return Ok(Some(CopyUpProbe { links })),
                Err(e) => {
                    log::debug!("overlay: kprobe on {COPY_UP_FN} failed: {e:#}");
                    errors.push(format!("{}: {e:#}", t.name()));
                    for l in links {
                        let _ = attach::detach(ebpf, l);
                    }
                }
            }
        }
        Err(anyhow!(
            "overlay: the kprobe tier does not attach ({}; is the overlay module loaded?)",
            errors.join("; ")
        ))
    }

    pub fn links(self) -> Vec<Attachment> {
        self.links
    }
}

/// Copy-ups outside the traced calls: (count, ns) summed over CPUs.
pub fn missed(ebpf: &Ebpf) -> Result<(u64, u64)> {
    let map: PerCpuArray<&MapData, u64> = PerCpuArray::try_from(
        ebpf.map(COPY_UP_MISSED)
            .ok_or_else(|| anyhow!("map {COPY_UP_MISSED} missing"))?,
    )?;
    let sum = |i: u32| -> Result<u64> { Ok(map.get(&i, 0)?.iter().sum()) };
    Ok((sum(0)?, sum(1)?))
}

/// Fills the comparison from the (syscall ns, copy-up ns) of each proven copy-up.
pub fn compare(check: &mut TierCheck, proven: &[(u64, Option<u64>)]) {
    let mut over: Vec<u64> = Vec::new();
    for &(sys, cu) in proven {
        match cu {
            Some(cu) if cu > 0 => {
                check.proven_and_timed += 1;
                check.syscall_ns += sys;
                check.copy_up_ns += cu;
                over.push(sys.saturating_sub(cu));
            }
            _ => check.proven_not_timed += 1,
        }
    }
    over.sort_unstable();
    check.p50_overhead_ns = over.get(over.len() / 2).copied().unwrap_or(0);
    check.max_overhead_ns = over.last().copied().unwrap_or(0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compare_splits_timed_and_untimed() {
        let mut c = TierCheck::default();
        compare(&mut c, &[(1000, Some(600)), (500, Some(450)), (300, None)]);
        assert_eq!((c.proven_and_timed, c.proven_not_timed), (2, 1));
        assert_eq!((c.syscall_ns, c.copy_up_ns), (1500, 1050));
        assert_eq!((c.p50_overhead_ns, c.max_overhead_ns), (400, 400));
    }
}
