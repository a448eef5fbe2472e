//! seccomp: attach the raw_syscalls probes at the cheapest working tier and read the in-kernel
//! aggregates. The analysis lives in `analyzer`, the user-facing text in `explain`.

pub mod analyzer;
pub mod bench;
pub mod class;
pub mod doctor;
pub mod entry;
pub mod estimate;
pub mod explain;
pub mod filter;
pub mod filter_time;
pub mod profile;
pub mod run;
pub mod section;
pub mod serve;
pub mod slowdown;
pub mod text;
pub mod workload;

use anyhow::{Result, anyhow};
use aya::{
    Ebpf,
    maps::{Array, HashMap as BpfHashMap, MapData, PerCpuHashMap},
};
use tracer_common::{
    COMM_LEN,
    seccomp::{COMMS, COUNTS, EPOCH, HISTS, SysHist, SysKey},
};

use crate::{
    attach::{self, AttachType, Attachment, Target},
    hist::Log2Hist,
};

/// What the probes record per syscall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Entry/exit pairing: counts, total time and log2 latency histograms.
    Latency,
    /// sys_enter only: counts, no timestamps.
    Count,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Latency => "latency",
            Mode::Count => "count",
        }
    }
}

/// Tiers in order of preference; all three work without kprobes or fentry.
pub const TIERS: [AttachType; 3] = [AttachType::TpBtf, AttachType::RawTp, AttachType::Tracepoint];

fn programs(mode: Mode, at: AttachType) -> Vec<(&'static str, &'static str)> {
    let suffix = match at {
        AttachType::TpBtf => 0,
        AttachType::RawTp => 1,
        _ => 2,
    };
    let pick = |names: [&'static str; 3]| names[suffix];
    match mode {
        Mode::Latency => vec![
            (
                pick(["seccomp_enter_btf", "seccomp_enter_raw", "seccomp_enter_tp"]),
                "sys_enter",
            ),
            (
                pick(["seccomp_exit_btf", "seccomp_exit_raw", "seccomp_exit_tp"]),
                "sys_exit",
            ),
        ],
        Mode::Count => vec![(
            pick(["seccomp_count_btf", "seccomp_count_raw", "seccomp_count_tp"]),
            "sys_enter",
        )],
    }
}

/// The attached syscall probes; detachable and re-attachable for the duty cycle.
pub struct Probe {
    pub mode: Mode,
    pub tier: AttachType,
    links: Vec<Attachment>,
}

impl Probe {
    /// Attaches at the first tier that works; the errors of the others are logged at debug level.
    pub fn attach(ebpf: &mut Ebpf, mode: Mode) -> Result<Probe> {
        let mut errors = Vec::new();
        for tier in TIERS {
            let mut probe = Probe {
                mode,
                tier,
                links: Vec::new(),
            };
            match probe.attach_links(ebpf) {
                Ok(()) => return Ok(probe),
                Err(e) => {
                    log::debug!("seccomp: {} failed: {e:#}", tier.name());
                    probe.detach(ebpf);
                    errors.push(format!("{}: {e:#}", tier.name()));
                }
            }
        }
        Err(anyhow!(
            "seccomp: no attach type works on this kernel ({})",
            errors.join("; ")
        ))
    }

    fn attach_links(&mut self, ebpf: &mut Ebpf) -> Result<()> {
        for (program, tp) in programs(self.mode, self.tier) {
            let target = Target {
                category: "raw_syscalls",
                name: tp,
            };
            self.links
                .push(attach::attach(ebpf, program, self.tier, target)?);
        }
        Ok(())
    }

    pub fn attached(&self) -> bool {
        !self.links.is_empty()
    }

    /// Attaches again after a detach. Syscalls entered before now are void: their exits were
    /// missed while detached, and must not pair with the next call's.
    pub fn reattach(&mut self, ebpf: &mut Ebpf) -> Result<()> {
        if self.attached() {
            return Ok(());
        }
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
        let now = ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64;
        let map = ebpf
            .map_mut(EPOCH)
            .ok_or_else(|| anyhow!("map {EPOCH} missing"))?;
        Array::<&mut MapData, u64>::try_from(map)?.set(0, now, 0)?;
        self.attach_links(ebpf)
    }

    pub fn detach(&mut self, ebpf: &mut Ebpf) {
        for link in self.links.drain(..) {
            if let Err(e) = attach::detach(ebpf, link) {
                log::warn!("seccomp: detach failed: {e:#}");
            }
        }
    }

    pub fn program_names(&self) -> Vec<String> {
        programs(self.mode, self.tier)
            .into_iter()
            .map(|(p, _)| p.to_string())
            .collect()
    }
}

/// Cumulative figures of one (process, syscall) pair, summed over CPUs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SysStats {
    pub count: u64,
    pub total_ns: u64,
    pub hist: Log2Hist,
}

/// Reads the in-kernel aggregates of `mode`.
pub fn snapshot(ebpf: &Ebpf, mode: Mode) -> Result<Vec<(SysKey, SysStats)>> {
    let mut out = Vec::new();
    match mode {
        Mode::Latency => {
            let map: PerCpuHashMap<&MapData, SysKey, SysHist> = PerCpuHashMap::try_from(
                ebpf.map(HISTS)
                    .ok_or_else(|| anyhow!("map {HISTS} missing"))?,
            )?;
            for entry in map.iter() {
                let (key, per_cpu) = entry?;
                let mut s = SysStats::default();
                for h in per_cpu.iter() {
                    s.count += h.count;
                    s.total_ns += h.total_ns;
                    s.hist.add(&h.slots);
                }
                out.push((key, s));
            }
        }
        Mode::Count => {
            let map: PerCpuHashMap<&MapData, SysKey, u64> = PerCpuHashMap::try_from(
                ebpf.map(COUNTS)
                    .ok_or_else(|| anyhow!("map {COUNTS} missing"))?,
            )?;
            for entry in map.iter() {
                let (key, per_cpu) = entry?;
                let count = per_cpu.iter().sum();
                out.push((
                    key,
                    SysStats {
                        count,
                        ..Default::default()
                    },
                ));
            }
        }
    }
    Ok(out)
}

/// Deletes processes' entries from the aggregate maps of both modes, and their names.
pub fn forget_keys(ebpf: &mut Ebpf, keys: &[SysKey], tgids: &[u32]) {
    if let Some(Ok(mut m)) = ebpf
        .map_mut(HISTS)
        .map(PerCpuHashMap::<&mut MapData, SysKey, SysHist>::try_from)
    {
        for k in keys {
            let _ = m.remove(k);
        }
    }
    if let Some(Ok(mut m)) = ebpf
        .map_mut(COUNTS)
        .map(PerCpuHashMap::<&mut MapData, SysKey, u64>::try_from)
    {
        for k in keys {
            let _ = m.remove(k);
        }
    }
    if let Some(Ok(mut m)) = ebpf
        .map_mut(COMMS)
        .map(BpfHashMap::<&mut MapData, u32, [u8; COMM_LEN]>::try_from)
    {
        for t in tgids {
            let _ = m.remove(t);
        }
    }
    // The kernel tier's filter time, per process.
    if let Some(Ok(mut m)) = ebpf
        .map_mut(tracer_common::seccomp::FILTER_COST)
        .map(PerCpuHashMap::<&mut MapData, u32, tracer_common::seccomp::FilterCost>::try_from)
    {
        for t in tgids {
            let _ = m.remove(t);
        }
    }
}

/// The name the kernel saw when the process first made a syscall (for processes already gone).
pub fn kernel_comm(ebpf: &Ebpf, tgid: u32) -> Option<String> {
    let map: BpfHashMap<&MapData, u32, [u8; COMM_LEN]> =
        BpfHashMap::try_from(ebpf.map(COMMS)?).ok()?;
    Some(crate::events::comm_str(&map.get(&tgid, 0).ok()?))
}
