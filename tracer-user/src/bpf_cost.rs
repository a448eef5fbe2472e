//! What ctrace's own BPF objects cost the kernel: each map's bytes (the kernel's `memlock`
//! accounting, from /proc/PID/fdinfo of the map fds) and, while `kernel.bpf_stats_enabled` is
//! 1, each program's run time and runs. Read from the fds alone, so it needs no handle on the
//! loaded object and sees ring buffers taken out of it too.

use std::collections::BTreeMap;

use serde::Serialize;

#[derive(Serialize, Clone, Debug, Default, PartialEq)]
pub struct ProgStats {
    pub name: String,
    pub id: u32,
    pub run_time_ns: u64,
    pub run_cnt: u64,
}

#[derive(Serialize, Clone, Copy, Debug, Default, PartialEq)]
pub struct MapCost {
    pub bytes: u64,
    /// As created (ring buffers: bytes); 1 for the stubs of problems not asked.
    pub max_entries: u32,
}

#[derive(Serialize, Clone, Debug, Default, PartialEq)]
pub struct BpfCost {
    /// Sum of the maps' bytes.
    pub map_bytes: u64,
    /// By map name (as the kernel keeps it: 15 characters at most).
    pub maps: BTreeMap<String, MapCost>,
    /// `kernel.bpf_stats_enabled`: programs' run time is only counted while it is 1.
    pub stats_enabled: bool,
    /// ctrace's maps are all preallocated here (a kernel without run-time map allocation for
    /// tracing programs: see prealloc.rs), so `map_bytes` is their size when full.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub preallocated: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub programs: Vec<ProgStats>,
    /// With stats on: the programs' run time over the run's length, as a share of one CPU (%).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub programs_cpu_pct: Option<f64>,
}

impl BpfCost {
    /// Sets `programs_cpu_pct` for programs loaded `secs` ago.
    pub fn over(mut self, secs: f64) -> BpfCost {
        if self.stats_enabled && secs > 0.0 {
            let ns: u64 = self.programs.iter().map(|p| p.run_time_ns).sum();
            self.programs_cpu_pct = Some(ns as f64 / (secs * 1e7));
        }
        self
    }

    /// The live view's part: what ctrace costs the kernel now.
    pub fn live(&self) -> String {
        match self.programs_cpu_pct {
            Some(pct) => format!("bpf: maps {}, programs {pct:.2}% CPU", mib(self.map_bytes)),
            None => format!("bpf: maps {}", mib(self.map_bytes)),
        }
    }
}

fn num(info: &BTreeMap<String, String>, key: &str) -> Option<u64> {
    info.get(key)?.parse().ok()
}

pub fn stats_enabled() -> bool {
    std::fs::read_to_string("/proc/sys/kernel/bpf_stats_enabled").is_ok_and(|s| s.trim() == "1")
}

/// The BPF maps and programs held by process `pid` ("self" for ctrace).
pub fn read(pid: &str) -> BpfCost {
    let mut out = BpfCost {
        stats_enabled: stats_enabled(),
        ..Default::default()
    };
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fdinfo")) else {
        return out;
    };
    let mut prog_ids = BTreeMap::new();
    for entry in dir.flatten() {
        let Some(info) = crate::node::fdinfo(&entry.path()) else {
            continue;
        };
        if let (Some(id), Some(bytes)) = (num(&info, "map_id"), num(&info, "memlock")) {
            let max_entries = num(&info, "max_entries").unwrap_or(0) as u32;
            let name = aya::maps::MapInfo::from_id(id as u32)
                .ok()
                .and_then(|m| m.name_as_str().map(str::to_string))
                .unwrap_or_else(|| format!("map {id}"));
            let m = out.maps.entry(name).or_default();
            m.bytes += bytes;
            m.max_entries = m.max_entries.max(max_entries);
            out.map_bytes += bytes;
        } else if let (Some(id), None) = (num(&info, "prog_id"), info.get("link_type")) {
            // A program's own fd (links name their program too, without its stats).
            let stats = (num(&info, "run_time_ns"), num(&info, "run_cnt"));
            prog_ids.insert(id as u32, stats);
        }
    }
    if out.stats_enabled && !prog_ids.is_empty() {
        for p in aya::programs::loaded_programs().flatten() {
            if let Some((Some(t), Some(n))) = prog_ids.get(&p.id()) {
                out.programs.push(ProgStats {
                    name: p.name_as_str().unwrap_or("?").to_string(),
                    id: p.id(),
                    run_time_ns: *t,
                    run_cnt: *n,
                });
            }
        }
    }
    out
}

/// ctrace's own maps and programs.
pub fn read_self() -> BpfCost {
    BpfCost {
        preallocated: !crate::prealloc::runtime_alloc_is_safe(),
        ..read("self")
    }
}

/// `/metrics` rows of `ctrace_bpf_map_bytes`: one per map (their sum is the total).
pub fn metric_rows(cost: &BpfCost) -> Vec<Row> {
    cost.maps
        .iter()
        .map(|(m, c)| (vec![("map", m.clone())], c.bytes))
        .collect()
}

/// One `/metrics` row: labels and value.
type Row = (Vec<(&'static str, String)>, u64);

/// `/metrics` rows of the programs' run time (ns) and runs, while `kernel.bpf_stats_enabled`.
pub fn program_rows(cost: &BpfCost) -> (Vec<Row>, Vec<Row>) {
    let progs = &cost.programs;
    let label = |p: &ProgStats| vec![("program", p.name.clone())];
    (
        progs.iter().map(|p| (label(p), p.run_time_ns)).collect(),
        progs.iter().map(|p| (label(p), p.run_cnt)).collect(),
    )
}

pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
}

/// `ctrace doctor`: the maps of each problem, loaded alone as `ctrace trace PROBLEM` would,
/// now (the kernel's figure after the load) and at most (the caps, by formula).
pub fn doctor_checks() -> Vec<crate::shared::Check> {
    use crate::{
        attach::{self, Globals},
        map_sizes,
        problem::Problem,
        shared::{Check, Status},
        syscalls,
    };
    let pid_max = crate::node::read_u64("/proc/sys/kernel/pid_max").unwrap_or(4_194_304) as u32;
    let cpus = map_sizes::cpus();
    Problem::ALL
        .iter()
        .map(|&p| {
            let g = Globals {
                self_tgid: std::process::id(),
                pid_max,
                syscall_want: syscalls::want_of([p]),
                zombie: p == Problem::Zombie,
                ..Default::default()
            };
            let name = format!("bpf:maps:{}", p.name());
            let ebpf = match attach::load(&g) {
                Ok(e) => e,
                Err(e) => return check(&name, Status::Warn, format!("test load failed: {e:#}")),
            };
            let now = read_self().map_bytes;
            drop(ebpf);
            // The kernel's figure after the load, plus what the maps without preallocation can
            // still take: every other map was charged whole at its load, whether the formula
            // knows it or not (seccomp's sampling maps are made even when sampling is off).
            // The other problems' maps are one-entry stubs: they cannot grow. Where the kernel
            // needs every map preallocated (prealloc.rs), nothing can grow after the load.
            let runtime_alloc = crate::prealloc::runtime_alloc_is_safe();
            let growth: u64 = map_sizes::plan(&g, cpus)
                .iter()
                .filter(|s| runtime_alloc && (s.problem == p.name() || s.problem == "filter"))
                .map(|s| map_sizes::growth_bytes(s, cpus))
                .sum();
            let worst = now + growth;
            let prealloc = match runtime_alloc {
                true => "",
                false => "; preallocated on this kernel, so taken in full at load",
            };
            Check {
                name,
                status: Status::Ok,
                detail: format!(
                    "{} after load, at most {} when full ({cpus} CPUs, pid_max {pid_max}){prealloc}",
                    mib(now),
                    mib(worst)
                ),
            }
        })
        .collect()
}

fn check(name: &str, status: crate::shared::Status, detail: String) -> crate::shared::Check {
    crate::shared::Check {
        name: name.into(),
        status,
        detail,
    }
}
