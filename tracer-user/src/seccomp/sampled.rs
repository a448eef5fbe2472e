//! Sampled cost: attaches the cpu-clock perf_event program on every CPU, drains its counts
//! (per process, stack and slow-path reasons), and sums them per container. No syscall probe
//! is needed, so tasks keep the syscall path they would take without ctrace.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, anyhow};
use aya::{
    Ebpf,
    maps::{MapData, PerCpuArray, PerCpuHashMap, StackTraceMap},
    programs::{
        PerfEvent,
        perf_event::{
            PerfEventConfig, PerfEventLinkId, PerfEventScope, SamplePolicy, SoftwareEvent,
        },
    },
    util::online_cpus,
};
use serde::Serialize;
use tracer_common::seccomp::{NO_STACK, SAMPLE_DROPS, SAMPLE_PROGRAM, SAMPLES, STACKS, SampleKey};

use super::{
    kallsyms,
    proc_meta::proc_meta,
    residual::Residual,
    sampled_class::{
        Class, Counts, Kallsyms, Landings, Rate, class_of_sample, rate, rate_with_residual,
    },
};
use crate::attrib::{Attributor, ProcMeta};

/// Samples per second on each CPU unless `CTRACE_SAMPLE_HZ` says otherwise.
pub const DEFAULT_HZ: u64 = 999;

/// How `method` names this evidence.
pub fn method(hz: u64) -> String {
    format!(
        "sampled: cpu-clock at {hz} Hz on every CPU, kernel stacks in __secure_computing, \
         __seccomp_filter, populate_seccomp_data, the JIT'd filter and its entry, and \
         syscall_trace_enter and its return into the syscall entry when seccomp was the \
         task's only reason for the slow path"
    )
}

pub struct Sampler {
    links: Vec<PerfEventLinkId>,
    pub hz: u64,
    period_ns: u64,
    started: Instant,
    syms: &'static Kallsyms,
    landings: Landings,
    /// Each drain's counts per process, newest last, for a sliding window.
    history: VecDeque<(Instant, HashMap<u32, Counts>)>,
    total: HashMap<u32, Counts>,
    meta: HashMap<u32, ProcMeta>,
    /// Drops counted before the last drain.
    pub drops: u64,
    keep: Duration,
    /// ctrace's own children, left out.
    ours: HashSet<u32>,
}

/// One container, one filtered host process, or the rest of the host, as sampled.
#[derive(Serialize, Debug, Clone)]
pub struct SampledRow {
    pub container_id: Option<String>,
    pub container_name: Option<String>,
    pub runtime: Option<String>,
    /// A host process with a filter has a row of its own (the rest of the host shares one):
    /// its pid and name.
    pub pid: Option<u32>,
    pub comm: Option<String>,
    /// "filter", "disabled" or "mixed", from its processes.
    pub seccomp_mode: String,
    pub samples: Counts,
    /// The filter and (where seccomp was the only reason) the slow path, with a 95% interval.
    pub seccomp: Rate,
    /// Of which the filter's own time, its entry included.
    pub filter: Rate,
    /// The slow path seccomp alone sent its tasks down, its return included.
    pub slow_path: Rate,
    /// The slow path of tasks that took it for other reasons too (ctrace's own syscall
    /// probes among them): shown apart, not blamed on seccomp.
    pub slow_path_shared: Rate,
    /// Of `seccomp`, what the classifier can't name, from the calibrated residual (zero
    /// without one, or with ctrace's syscall probes attached).
    pub residual: Rate,
    /// Of one CPU, for the seccomp figure.
    pub cpu_share_pct: f64,
    /// Its sampled processes, lowest pid first (a finding's subject stays the same one).
    #[serde(skip)]
    pub pids: Vec<u32>,
}

impl SampledRow {
    /// The container's name (or id), the host process's name and pid, or `(host)`.
    pub fn label(&self) -> String {
        match (&self.container_name, &self.container_id, self.pid) {
            (Some(name), _, _) => name.clone(),
            (None, Some(id), _) => id.clone(),
            (None, None, Some(pid)) => format!("{} ({pid})", self.comm.as_deref().unwrap_or("?")),
            _ => "(host)".into(),
        }
    }
}

/// What a row stands for.
#[derive(PartialEq, Eq, Hash)]
enum RowKey {
    Container(String),
    HostProcess(u32),
    Host,
}

#[derive(Serialize, Debug, Clone)]
pub struct SampledSection {
    pub hz: u64,
    pub seconds: f64,
    pub method: String,
    /// Samples lost to a full sample map.
    pub drops: u64,
    /// Whether ctrace's syscall probes were attached meanwhile (then every task took the
    /// slow path, and only the filter's own time is seccomp's).
    pub syscall_probes: bool,
    /// The calibration behind each row's `residual`, where one applied.
    pub residual: Option<Residual>,
    pub containers: Vec<SampledRow>,
}

fn hz_wanted() -> Result<u64> {
    match std::env::var("CTRACE_SAMPLE_HZ") {
        Ok(v) => v
            .parse::<u64>()
            .ok()
            .filter(|h| (1..=10_000).contains(h))
            .ok_or_else(|| anyhow!("CTRACE_SAMPLE_HZ={v}: expected 1 to 10000")),
        Err(_) => Ok(DEFAULT_HZ),
    }
}

impl Sampler {
    /// `keep`: the longest window asked of `section`.
    pub fn attach(ebpf: &mut Ebpf, keep: Duration) -> Result<Sampler> {
        let hz = hz_wanted()?;
        let syms = kallsyms::shared()?;
        let period_ns = 1_000_000_000 / hz;
        let prog: &mut PerfEvent = ebpf
            .program_mut(SAMPLE_PROGRAM)
            .ok_or_else(|| anyhow!("program {SAMPLE_PROGRAM} is missing"))?
            .try_into()?;
        prog.load().context("loading the sampling program")?;
        let cpus = online_cpus().map_err(|(what, e)| anyhow!("{what}: {e}"))?;
        let mut links = Vec::new();
        for cpu in cpus {
            // A fixed period, so that every sample stands for the same CPU time.
            let l = prog
                .attach(
                    PerfEventConfig::Software(SoftwareEvent::CpuClock),
                    PerfEventScope::AllProcessesOneCpu { cpu },
                    SamplePolicy::Period(period_ns),
                    false,
                )
                .with_context(|| format!("cpu-clock sampling on CPU {cpu}"))?;
            links.push(l);
        }
        Ok(Sampler {
            links,
            hz,
            period_ns,
            started: Instant::now(),
            syms,
            landings: Landings::default(),
            history: VecDeque::new(),
            total: HashMap::new(),
            meta: HashMap::new(),
            drops: 0,
            keep,
            ours: HashSet::new(),
        })
    }

    pub fn detach(&mut self, ebpf: &mut Ebpf) {
        if let Some(Ok(p)) = ebpf
            .program_mut(SAMPLE_PROGRAM)
            .map(<&mut PerfEvent>::try_from)
        {
            for l in self.links.drain(..) {
                let _ = p.detach(l);
            }
        }
    }

    /// Moves the kernel's counts here, classifies their stacks and attributes new processes.
    /// `execd`: processes that exec'd since the last drain, named again if named before.
    pub fn drain(&mut self, ebpf: &mut Ebpf, attrib: &mut Attributor, execd: &[u32]) -> Result<()> {
        let mut raw: Vec<(SampleKey, u64)> = Vec::new();
        {
            let mut map: PerCpuHashMap<&mut MapData, SampleKey, u64> = PerCpuHashMap::try_from(
                ebpf.map_mut(SAMPLES)
                    .ok_or_else(|| anyhow!("map {SAMPLES} missing"))?,
            )?;
            for e in map.iter() {
                let (k, per_cpu) = e?;
                raw.push((k, per_cpu.iter().sum()));
            }
            // What arrives between the read and the removal is lost: a few samples at most.
            for (k, _) in &raw {
                let _ = map.remove(k);
            }
        }
        let stacks: StackTraceMap<&MapData> = StackTraceMap::try_from(
            ebpf.map(STACKS)
                .ok_or_else(|| anyhow!("map {STACKS} missing"))?,
        )?;
        // Each stack once per drain; a key whose first frame is not its stack's (a colliding
        // stack took the slot since) is classed by its own ip alone.
        let ids: HashSet<i32> = raw.iter().map(|(k, _)| k.stack_id).collect();
        let frames: HashMap<i32, Vec<u64>> = ids
            .into_iter()
            .filter(|id| *id != NO_STACK)
            .filter_map(|id| {
                let s = stacks.get(&(id as u32), 0).ok()?;
                Some((id, s.frames().iter().map(|f| f.ip).collect()))
            })
            .collect();
        for f in frames.values() {
            self.landings.learn(f, self.syms);
        }
        let class_of = |k: &SampleKey| {
            let in_filter = k.in_filter != 0;
            match frames.get(&k.stack_id) {
                Some(f) if f.first() == Some(&k.ip) => {
                    class_of_sample(f, in_filter, self.syms, &self.landings)
                }
                _ if k.stack_id == NO_STACK => Class::Other,
                _ => class_of_sample(&[k.ip], in_filter, self.syms, &self.landings),
            }
        };
        let mut now: HashMap<u32, Counts> = HashMap::new();
        let cgroups: HashMap<u32, u64> = raw.iter().map(|(k, _)| (k.tgid, k.cgroup_id)).collect();
        // ctrace's own children (the calibration's `__seccomp-child`) are not workloads.
        let me = std::process::id().to_string();
        for (k, n) in &raw {
            if self.ours.contains(&k.tgid) {
                continue;
            }
            if !self.meta.contains_key(&k.tgid)
                && crate::node::proc_status_field(k.tgid, "PPid").as_deref() == Some(me.as_str())
            {
                self.ours.insert(k.tgid);
                continue;
            }
            now.entry(k.tgid).or_default().add(class_of(k), k.work, *n);
        }
        for (t, c) in &now {
            self.total.entry(*t).or_default().merge(c);
        }
        let drops: PerCpuArray<&MapData, u64> = PerCpuArray::try_from(
            ebpf.map(SAMPLE_DROPS)
                .ok_or_else(|| anyhow!("map {SAMPLE_DROPS} missing"))?,
        )?;
        self.drops = drops.get(&0, 0).map_or(0, |v| v.iter().sum());
        let renamed = execd.iter().filter(|t| self.meta.contains_key(t));
        for t in now
            .keys()
            .filter(|t| !self.meta.contains_key(t))
            .chain(renamed)
            .copied()
            .collect::<Vec<_>>()
        {
            let mut m = proc_meta(t, attrib, ebpf, |p| self.meta.get(&p).cloned());
            // The cgroup the kernel saw at the sample names the container, even once the
            // process is gone; /proc (in proc_meta) where the id is not a container's.
            let origin = tracer_common::Origin {
                cgroup_id: cgroups.get(&t).copied().unwrap_or(0),
                tgid: t,
                ..Default::default()
            };
            if let Some(c) = attrib.container_of_origin(&origin, t) {
                m.container = Some(c);
            }
            self.meta.insert(t, m);
        }
        self.history.push_back((Instant::now(), now));
        while self
            .history
            .front()
            .is_some_and(|(at, _)| at.elapsed() > self.keep)
        {
            self.history.pop_front();
        }
        Ok(())
    }

    /// Processes whose figures are kept; dead ones are forgotten once out of every window.
    pub fn forget_dead(&mut self) {
        let seen: HashSet<u32> = self
            .history
            .iter()
            .flat_map(|(_, m)| m.keys())
            .copied()
            .collect();
        self.meta
            .retain(|t, _| seen.contains(t) || crate::node::alive(*t));
        self.total
            .retain(|t, _| seen.contains(t) || crate::node::alive(*t));
        self.ours.retain(|t| crate::node::alive(*t));
    }

    /// Per container, since the start (`window` None) or over the last `window`.
    pub fn section(&self, window: Option<Duration>, syscall_probes: bool) -> SampledSection {
        let elapsed = self.started.elapsed();
        let (counts, secs) = match window {
            None => (self.total.clone(), elapsed.as_secs_f64()),
            Some(w) => {
                let mut sum: HashMap<u32, Counts> = HashMap::new();
                for (_, m) in self.history.iter().filter(|(at, _)| at.elapsed() <= w) {
                    for (t, c) in m {
                        sum.entry(*t).or_default().merge(c);
                    }
                }
                (sum, w.min(elapsed).as_secs_f64())
            }
        };
        // The residual holds for the untraced slow path only: with ctrace's syscall probes
        // attached, that path is shared and not counted.
        let residual = super::residual::current().filter(|_| !syscall_probes);
        let mut rows: HashMap<RowKey, SampledRow> = HashMap::new();
        for (t, c) in &counts {
            let m = self.meta.get(t);
            let ctr = m.and_then(|m| m.container.as_ref());
            let mode = m.map_or("unknown", |m| m.seccomp.mode.as_str());
            let key = match ctr {
                Some(c) => RowKey::Container(c.id.clone()),
                None if mode == "filter" => RowKey::HostProcess(*t),
                None => RowKey::Host,
            };
            let own = matches!(key, RowKey::HostProcess(_));
            let row = rows.entry(key).or_insert_with(|| SampledRow {
                container_id: ctr.map(|c| c.id.clone()),
                container_name: ctr.and_then(|c| c.name.clone()),
                runtime: ctr.map(|c| c.runtime.clone()),
                pid: own.then_some(*t),
                comm: own.then(|| m.map(|m| m.comm.clone())).flatten(),
                seccomp_mode: mode.to_string(),
                samples: Counts::default(),
                seccomp: rate(0, 1, 1.0),
                filter: rate(0, 1, 1.0),
                slow_path: rate(0, 1, 1.0),
                slow_path_shared: rate(0, 1, 1.0),
                residual: rate(0, 1, 1.0),
                cpu_share_pct: 0.0,
                pids: Vec::new(),
            });
            if row.seccomp_mode != mode && mode != "unknown" {
                row.seccomp_mode = if row.seccomp_mode == "unknown" {
                    mode.to_string()
                } else {
                    "mixed".into()
                };
            }
            row.samples.merge(c);
            row.pids.push(*t);
        }
        let mut containers: Vec<SampledRow> = rows
            .into_values()
            .map(|mut r| {
                let s = r.samples;
                r.seccomp = rate(s.seccomp(), self.period_ns, secs);
                if let Some(k) = residual {
                    let k = (k.per_slow_path_sample, k.low, k.high);
                    (r.seccomp, r.residual) =
                        rate_with_residual(s.seccomp(), s.slow_path_all(), k, self.period_ns, secs);
                }
                r.filter = rate(s.filter_all(), self.period_ns, secs);
                r.slow_path = rate(s.slow_path_all(), self.period_ns, secs);
                r.slow_path_shared = rate(s.slow_path_shared, self.period_ns, secs);
                r.cpu_share_pct = r.seccomp.ms_per_s / 10.0;
                r.pids.sort_unstable();
                r
            })
            .collect();
        containers.sort_by(|a, b| {
            b.samples
                .seccomp()
                .cmp(&a.samples.seccomp())
                .then(b.samples.total.cmp(&a.samples.total))
        });
        SampledSection {
            hz: self.hz,
            seconds: secs,
            method: method(self.hz),
            drops: self.drops,
            syscall_probes,
            residual: residual.cloned(),
            containers,
        }
    }
}
