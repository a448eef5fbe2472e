//! seccomp: read the in-kernel aggregates that the syscall dispatcher (`crate::syscalls`)
//! keeps. The analysis lives in `analyzer`, the user-facing text in `explain`.

pub mod analyzer;
pub mod bench;
pub mod calibration;
mod calibrator;
pub mod class;
pub mod doctor;
pub mod entry;
pub mod estimate;
pub mod explain;
pub mod filter;
pub mod filter_time;
pub mod kallsyms;
mod proc_meta;
pub mod profile;
pub mod residual;
pub mod run;
pub mod sampled;
pub mod sampled_class;
pub mod sampled_finding;
pub mod section;
pub mod serve;
pub mod slowdown;
pub mod text;
pub mod workload;

use anyhow::{Result, anyhow};
use aya::{
    Ebpf,
    maps::{HashMap as BpfHashMap, MapData, PerCpuHashMap},
};
use tracer_common::seccomp::{COMMS, COUNTS, EXECS, HISTS, SysHist, SysKey};

use crate::hist::Log2Hist;

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

/// Cumulative figures of one (process, syscall) pair, summed over CPUs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SysStats {
    pub count: u64,
    pub total_ns: u64,
    pub hist: Log2Hist,
}

impl SysStats {
    /// What grew since `last`, an earlier snapshot of the same key; a key whose figures shrank
    /// was deleted and recreated (pid reuse), so all of it is new.
    pub fn since(&self, last: Option<&SysStats>) -> SysStats {
        match last {
            Some(l) if l.count <= self.count => {
                let mut d = SysStats {
                    count: self.count - l.count,
                    total_ns: self.total_ns.saturating_sub(l.total_ns),
                    ..Default::default()
                };
                for (i, s) in d.hist.slots.iter_mut().enumerate() {
                    *s = self.hist.slots[i].saturating_sub(l.hist.slots[i]);
                }
                d
            }
            _ => self.clone(),
        }
    }
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
        .map(BpfHashMap::<&mut MapData, u32, tracer_common::seccomp::Seen>::try_from)
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

/// Takes the tgids that exec'd since the last call out of the kernel's set: their name and
/// seccomp state are to be read again.
pub fn take_execs(ebpf: &mut Ebpf) -> Vec<u32> {
    let Some(Ok(mut map)) = ebpf
        .map_mut(EXECS)
        .map(BpfHashMap::<&mut MapData, u32, u8>::try_from)
    else {
        return Vec::new();
    };
    let tgids: Vec<u32> = map.keys().filter_map(Result::ok).collect();
    for t in &tgids {
        let _ = map.remove(t);
    }
    tgids
}

/// What the kernel saw of the process at its first syscall or last execve (for processes
/// already gone): its name, cgroup, namespaces and seccomp state.
pub fn kernel_seen(ebpf: &Ebpf, tgid: u32) -> Option<tracer_common::seccomp::Seen> {
    let map: BpfHashMap<&MapData, u32, tracer_common::seccomp::Seen> =
        BpfHashMap::try_from(ebpf.map(COMMS)?).ok()?;
    map.get(&tgid, 0).ok()
}
