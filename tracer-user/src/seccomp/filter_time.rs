//! seccomp, kernel tier: each process's filter time per syscall, measured as the duration of
//! `__secure_computing`, and set beside the calibration estimate of the same filter.

use anyhow::{Result, anyhow};
use aya::{
    Ebpf,
    maps::{MapData, PerCpuHashMap},
};
use tracer_common::seccomp::{FILTER_COST, FILTER_FN, FilterCost};

use super::calibration::Worker;
pub use super::section::FilterTime;
use crate::{
    attach::{self, AttachType, Attachment, Target},
    node,
    problem::Problem,
    tier::{self, Features, Tier},
};

pub struct FilterProbe {
    pub tier: Tier,
    links: Vec<Attachment>,
}

fn programs(t: Tier) -> [(&'static str, AttachType); 2] {
    match t {
        Tier::Fentry => [
            ("seccomp_filter_fentry", AttachType::Fentry),
            ("seccomp_filter_fexit", AttachType::Fexit),
        ],
        _ => [
            ("seccomp_filter_kprobe", AttachType::Kprobe),
            ("seccomp_filter_kretprobe", AttachType::Kprobe),
        ],
    }
}

impl FilterProbe {
    /// The kernel tier when this kernel allows it; None means the tracepoint tier.
    pub fn attach(ebpf: &mut Ebpf, f: Features, wish: Option<Tier>) -> Result<Option<FilterProbe>> {
        let plan = tier::plan(Problem::Seccomp, f, wish).map_err(|e| anyhow!(e))?;
        let mut errors = Vec::new();
        for t in plan {
            if t == Tier::Tracepoint {
                return Ok(None);
            }
            let mut p = FilterProbe {
                tier: t,
                links: Vec::new(),
            };
            let target = Target {
                category: "",
                name: FILTER_FN,
            };
            let res = programs(t).into_iter().try_for_each(|(prog, at)| {
                p.links.push(attach::attach(ebpf, prog, at, target)?);
                anyhow::Ok(())
            });
            match res {
                Ok(()) => return Ok(Some(p)),
                Err(e) => {
                    log::debug!("seccomp: {} on {FILTER_FN} failed: {e:#}", t.name());
                    errors.push(format!("{}: {e:#}", t.name()));
                    p.detach(ebpf);
                }
            }
        }
        Err(anyhow!(
            "seccomp: the kernel tier does not attach ({})",
            errors.join("; ")
        ))
    }

    pub fn program_names(&self) -> Vec<String> {
        programs(self.tier)
            .iter()
            .map(|(p, _)| p.to_string())
            .collect()
    }

    pub fn detach(&mut self, ebpf: &mut Ebpf) {
        for l in self.links.drain(..) {
            if let Err(e) = attach::detach(ebpf, l) {
                log::warn!("seccomp: detach failed: {e:#}");
            }
        }
    }

    /// (tgid, calls, total ns) summed over CPUs.
    pub fn read(ebpf: &Ebpf) -> Result<Vec<(u32, u64, u64)>> {
        let map: PerCpuHashMap<&MapData, u32, FilterCost> = PerCpuHashMap::try_from(
            ebpf.map(FILTER_COST)
                .ok_or_else(|| anyhow!("map {FILTER_COST} missing"))?,
        )?;
        let mut out = Vec::new();
        for entry in map.iter() {
            let (tgid, per_cpu) = entry?;
            let calls = per_cpu.iter().map(|c| c.calls).sum();
            let ns = per_cpu.iter().map(|c| c.total_ns).sum();
            out.push((tgid, calls, ns));
        }
        out.sort();
        Ok(out)
    }
}

/// The measured figures, before calibration (which needs every probe gone).
pub fn measured(raw: &[(u32, u64, u64)]) -> Vec<FilterTime> {
    raw.iter()
        .filter(|(_, calls, _)| *calls > 0)
        .map(|&(pid, calls, ns)| FilterTime {
            pid,
            comm: node::proc_comm(pid).unwrap_or_default(),
            calls,
            measured_ns_per_syscall: ns as f64 / calls as f64,
            calibrated_ns_per_syscall: None,
        })
        .collect()
}

/// Calibrates the filters of the processes still alive, for the comparison.
pub fn calibrate(times: &mut [FilterTime], cal: &mut Worker) {
    for t in times.iter_mut().filter(|t| node::alive(t.pid)) {
        match cal.calibrate(t.pid) {
            Ok(c) => t.calibrated_ns_per_syscall = Some(c.ns_per_syscall),
            Err(e) => log::warn!("seccomp: calibrating pid {}: {e:#}", t.pid),
        }
    }
}
