//! seccomp analyzer: folds the kernel's per-(process, syscall) aggregates into per-process and
//! per-container statistics. Pure: it is fed snapshots and process metadata, so it is unit-tested
//! with recorded data.

use std::collections::{BTreeMap, HashMap};

use tracer_common::seccomp::SysKey;

use super::section::BLOCKING;
pub use super::section::{ContainerStat, ProcessStat, SeccompReport, Sort, SyscallStat};
use super::{Mode, SysStats};
use crate::attrib::{Container, ProcMeta, SeccompStatus};

/// A container while it is being summed: itself, its processes, its syscalls by number.
type CtrAgg = (Container, Vec<u32>, BTreeMap<u32, SysStats>);

#[derive(Default)]
pub struct Analyzer {
    stats: HashMap<SysKey, SysStats>,
    /// Figures of dead processes whose kernel entries were removed to make room (`retire`);
    /// merged into `stats` at every update.
    retired: HashMap<SysKey, SysStats>,
    retired_tgids: std::collections::HashSet<u32>,
    meta: HashMap<u32, ProcMeta>,
    /// How the report ranks processes, containers and their syscalls (`--sort`).
    pub sort: Sort,
}

pub use crate::events::syscall_name;

impl Analyzer {
    /// Replaces the cumulative figures with a newer snapshot of the kernel maps.
    pub fn update(&mut self, snapshot: Vec<(SysKey, SysStats)>) {
        self.stats = snapshot.into_iter().collect();
        for (k, s) in &self.retired {
            merge(self.stats.entry(*k).or_default(), s);
        }
    }

    /// Keeps these (dead, attributed) processes' figures here from now on and returns their
    /// keys, for the caller to remove from the kernel map: a busy node's dead processes would
    /// otherwise fill it and the living ones' calls would be dropped.
    pub fn retire(&mut self, tgids: &[u32]) -> Vec<SysKey> {
        let keys: Vec<SysKey> = self
            .stats
            .keys()
            .filter(|k| tgids.contains(&k.tgid))
            .copied()
            .collect();
        for k in &keys {
            // `stats` already holds what was retired before, merged.
            self.retired.insert(*k, self.stats[k].clone());
        }
        self.retired_tgids.extend(tgids);
        keys
    }

    /// Whether a process's figures were retired (it is dead; nothing of it is left to move).
    pub fn is_retired(&self, tgid: u32) -> bool {
        self.retired_tgids.contains(&tgid)
    }

    pub fn stats(&self) -> &HashMap<SysKey, SysStats> {
        &self.stats
    }

    /// Processes in the figures, each once.
    pub fn tgids(&self) -> Vec<u32> {
        let mut t: Vec<u32> = self.stats.keys().map(|k| k.tgid).collect();
        t.sort_unstable();
        t.dedup();
        t
    }

    /// Drops processes entirely (their kernel entries are removed by the caller).
    pub fn forget(&mut self, tgids: &[u32]) {
        self.stats.retain(|k, _| !tgids.contains(&k.tgid));
        self.retired.retain(|k, _| !tgids.contains(&k.tgid));
        self.retired_tgids.retain(|t| !tgids.contains(t));
        for t in tgids {
            self.meta.remove(t);
        }
    }

    pub fn total(&self) -> u64 {
        self.stats.values().map(|s| s.count).sum()
    }

    /// Processes seen in the maps whose metadata has not been read yet.
    pub fn unknown_tgids(&self) -> Vec<u32> {
        let mut v: Vec<u32> = self
            .stats
            .keys()
            .map(|k| k.tgid)
            .filter(|t| !self.meta.contains_key(t))
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    pub fn meta(&self, tgid: u32) -> Option<&ProcMeta> {
        self.meta.get(&tgid)
    }

    pub fn set_meta(&mut self, tgid: u32, meta: ProcMeta) {
        self.meta.insert(tgid, meta);
    }

    /// The process exec'd: it is named again, from /proc or, once it is gone (its figures
    /// perhaps retired meanwhile), from the kernel's record of it after the exec.
    pub fn unset_meta(&mut self, tgid: u32) {
        self.meta.remove(&tgid);
    }

    pub fn process_count(&self) -> usize {
        let mut t: Vec<u32> = self.stats.keys().map(|k| k.tgid).collect();
        t.sort_unstable();
        t.dedup();
        t.len()
    }

    pub fn container_count(&self) -> usize {
        let mut ids: Vec<&str> = self
            .stats
            .keys()
            .filter_map(|k| self.meta.get(&k.tgid)?.container.as_ref())
            .map(|c| c.id.as_str())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids.len()
    }

    /// The report of what grew since `base` (an earlier `stats()`), over `secs`: a sliding
    /// window. Processes that made no syscall since are left out, so a quiet container is too.
    pub fn report_since(
        &self,
        base: &HashMap<SysKey, SysStats>,
        mode: Mode,
        secs: f64,
        top: usize,
    ) -> SeccompReport {
        let window = Analyzer {
            stats: self
                .stats
                .iter()
                .map(|(k, s)| (*k, s.since(base.get(k))))
                .filter(|(_, d)| d.count > 0)
                .collect(),
            meta: self.meta.clone(),
            sort: self.sort,
            ..Default::default()
        };
        let mut r = window.report(mode, secs, top);
        r.syscalls = window.total();
        r
    }

    pub fn report(&self, mode: Mode, observed_s: f64, top: usize) -> SeccompReport {
        let secs = observed_s.max(1e-9);
        // Per process: nr -> stats.
        let mut per_proc: BTreeMap<u32, BTreeMap<u32, SysStats>> = BTreeMap::new();
        for (k, s) in &self.stats {
            merge(
                per_proc.entry(k.tgid).or_default().entry(k.nr).or_default(),
                s,
            );
        }
        let mut processes = Vec::new();
        let mut per_ctr: BTreeMap<String, CtrAgg> = BTreeMap::new();
        for (tgid, by_nr) in &per_proc {
            let meta = self.meta.get(tgid).cloned().unwrap_or_default();
            let stat = process_stat(*tgid, &meta, by_nr, (mode, self.sort), secs, top);
            if let Some(c) = &meta.container {
                let entry = per_ctr
                    .entry(c.id.clone())
                    .or_insert_with(|| (c.clone(), Vec::new(), BTreeMap::new()));
                entry.1.push(*tgid);
                for (nr, s) in by_nr {
                    merge(entry.2.entry(*nr).or_default(), s);
                }
            }
            processes.push(stat);
        }
        let by_time = self.sort == Sort::Time && mode == Mode::Latency;
        let rank = |calls: u64, time: Option<u64>| if by_time { time.unwrap_or(0) } else { calls };
        processes.sort_by(|a, b| {
            rank(b.syscalls, b.total_ns)
                .cmp(&rank(a.syscalls, a.total_ns))
                .then(a.pid.cmp(&b.pid))
        });
        let mut containers: Vec<ContainerStat> = per_ctr
            .into_values()
            .map(|(c, tgids, by_nr)| {
                let statuses: Vec<&SeccompStatus> = tgids
                    .iter()
                    .filter_map(|t| self.meta.get(t).map(|m| &m.seccomp))
                    .filter(|s| s.mode != "unknown")
                    .collect();
                let (seccomp_mode, seccomp_filters) = match statuses.first() {
                    None => ("unknown".to_string(), None),
                    Some(first) if statuses.iter().all(|s| s.mode == first.mode) => (
                        first.mode.clone(),
                        statuses.iter().filter_map(|s| s.filters).max(),
                    ),
                    Some(_) => ("mixed".to_string(), None),
                };
                let (syscalls, total_ns) = sum(&by_nr);
                ContainerStat {
                    container_id: c.id,
                    container_name: c.name,
                    runtime: c.runtime,
                    k8s: c.k8s,
                    seccomp_mode,
                    seccomp_filters,
                    processes: tgids.len(),
                    syscalls,
                    syscalls_per_s: syscalls as f64 / secs,
                    total_ns: (mode == Mode::Latency).then_some(total_ns),
                    top: top_syscalls(&by_nr, (mode, self.sort), secs, top),
                    cost: None,
                }
            })
            .collect();
        containers.sort_by_key(|c| std::cmp::Reverse(rank(c.syscalls, c.total_ns)));
        SeccompReport {
            mode: mode.name(),
            sort: if by_time { Sort::Time } else { Sort::Count },
            observed_s,
            syscalls: self.total(),
            containers,
            processes,
            tier: "tracepoint",
            filter_time: Vec::new(),
            sampled: None,
        }
    }
}

fn merge(into: &mut SysStats, s: &SysStats) {
    into.count += s.count;
    into.total_ns += s.total_ns;
    into.hist.add(&s.hist.slots);
}

fn sum(by_nr: &BTreeMap<u32, SysStats>) -> (u64, u64) {
    by_nr
        .values()
        .fold((0, 0), |(c, t), s| (c + s.count, t + s.total_ns))
}

fn process_stat(
    tgid: u32,
    meta: &ProcMeta,
    by_nr: &BTreeMap<u32, SysStats>,
    (mode, sort): (Mode, Sort),
    secs: f64,
    top: usize,
) -> ProcessStat {
    let (syscalls, total_ns) = sum(by_nr);
    ProcessStat {
        pid: tgid,
        comm: if meta.comm.is_empty() {
            "?".into()
        } else {
            meta.comm.clone()
        },
        container_id: meta.container.as_ref().map(|c| c.id.clone()),
        container_name: meta.container.as_ref().and_then(|c| c.name.clone()),
        origin: crate::attrib::Origin::of(meta.container.as_ref()),
        seccomp_mode: if meta.seccomp.mode.is_empty() {
            "unknown".into()
        } else {
            meta.seccomp.mode.clone()
        },
        seccomp_filters: meta.seccomp.filters,
        syscalls,
        syscalls_per_s: syscalls as f64 / secs,
        total_ns: (mode == Mode::Latency).then_some(total_ns),
        top: top_syscalls(by_nr, (mode, sort), secs, top),
        other_ctrace: meta.comm == "ctrace",
        cost: None,
    }
}

/// The `top` syscalls by count, or by total time when asked (latency mode only).
fn top_syscalls(
    by_nr: &BTreeMap<u32, SysStats>,
    (mode, sort): (Mode, Sort),
    secs: f64,
    top: usize,
) -> Vec<SyscallStat> {
    let mut v: Vec<(&u32, &SysStats)> = by_nr.iter().collect();
    if mode == Mode::Latency && sort == Sort::Time {
        v.sort_by(|a, b| b.1.total_ns.cmp(&a.1.total_ns).then(a.0.cmp(b.0)));
    } else {
        v.sort_by(|a, b| b.1.count.cmp(&a.1.count).then(a.0.cmp(b.0)));
    }
    v.into_iter()
        .take(top)
        .map(|(&nr, s)| {
            let lat = mode == Mode::Latency && s.count > 0;
            // One call is known exactly; a percentile would give its bucket's upper edge.
            let pct = |q| {
                if s.count == 1 {
                    s.total_ns
                } else {
                    s.hist.percentile(q)
                }
            };
            let name = syscall_name(nr);
            SyscallStat {
                blocking: BLOCKING.contains(&name.as_str()),
                syscall: name,
                nr,
                count: s.count,
                per_s: s.count as f64 / secs,
                total_ns: lat.then_some(s.total_ns),
                avg_ns: lat.then(|| s.total_ns / s.count),
                p50_ns: lat.then(|| pct(0.50)),
                p99_ns: lat.then(|| pct(0.99)),
                hist_ns: if lat { s.hist.buckets() } else { Vec::new() },
            }
        })
        .collect()
}

#[cfg(test)]
#[path = "analyzer_tests.rs"]
mod tests;
