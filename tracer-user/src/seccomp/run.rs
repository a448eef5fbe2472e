//! seccomp during `ctrace trace`: the attached probes, the duty cycle, periodic attribution of
//! new processes, the live line and the final section of the report.

use std::{
    collections::{HashMap, VecDeque},
    time::{Duration, Instant},
};

use anyhow::{Result, anyhow};
use aya::Ebpf;
use tracer_common::seccomp::SysKey;

use super::{
    Mode, SysStats,
    analyzer::{Analyzer, SeccompReport},
    filter_time::{self, FilterProbe},
    proc_meta::proc_meta,
    sampled::Sampler,
    snapshot,
};
use crate::{
    attrib::Attributor,
    cli::TraceArgs,
    shared::ProbeInfo,
    syscalls,
    tier::{Features, Tier},
};

pub struct SeccompRun {
    mode: Mode,
    /// The dispatcher, shared with the other syscall problems; the duty cycle detaches it.
    /// None with `--sampled`: no syscall probe at all.
    syscalls: Option<syscalls::Shared>,
    /// The sampled cost (cpu-clock samples in the seccomp path).
    sampler: Option<Sampler>,
    /// The kernel tier's filter-time probes; None in the tracepoint tier.
    filter: Option<FilterProbe>,
    analyzer: Analyzer,
    interval: Duration,
    on_time: Duration,
    duty_cycle: u8,
    period_start: Instant,
    attached_since: Option<Instant>,
    observed: Duration,
    last_total: u64,
    /// sched_process_exec, refreshing the kernel's record of a process; kept attached.
    exec: Option<crate::attach::Attachment>,
    /// Sliding window of the periodic reports (serve, the live view).
    window: Duration,
    /// Snapshots of the figures, oldest first, every sixth of the window: the oldest within
    /// the window is the base its rates grow from.
    marks: VecDeque<(Instant, HashMap<SysKey, SysStats>)>,
}

impl SeccompRun {
    /// `syscalls`: the dispatcher, already attached with seccomp on; None with `--sampled`.
    pub fn start(
        ebpf: &mut Ebpf,
        syscalls: Option<syscalls::Shared>,
        args: &TraceArgs,
        features: Features,
        wish: Option<Tier>,
    ) -> Result<SeccompRun> {
        let mode = if args.count_only {
            Mode::Count
        } else {
            Mode::Latency
        };
        let filter = FilterProbe::attach(ebpf, features, wish)?;
        // The state after each execve, for processes gone before /proc is read.
        let exec = crate::attach::attach(
            ebpf,
            "seccomp_exec",
            crate::attach::AttachType::Tracepoint,
            crate::attach::Target {
                category: "sched",
                name: "sched_process_exec",
            },
        )
        .map_err(|e| log::warn!("seccomp: sched_process_exec: {e:#}"))
        .ok();
        let sampler = match Sampler::attach(ebpf, args.seccomp_window) {
            Ok(s) => Some(s),
            Err(e) if args.sampled => return Err(e.context("seccomp: --sampled")),
            Err(e) => {
                log::warn!("seccomp: no sampled cost, the calibration alone: {e:#}");
                None
            }
        };
        let now = Instant::now();
        Ok(SeccompRun {
            mode,
            syscalls,
            sampler,
            filter,
            analyzer: Analyzer::default(),
            interval: args.interval,
            on_time: args.interval.mul_f64(f64::from(args.duty_cycle) / 100.0),
            duty_cycle: args.duty_cycle,
            period_start: now,
            attached_since: Some(now),
            observed: Duration::ZERO,
            last_total: 0,
            exec,
            window: args.seccomp_window,
            marks: VecDeque::from([(now, HashMap::new())]),
        })
    }

    pub fn probe_info(&self) -> ProbeInfo {
        let mut p = syscalls::probe_info("seccomp", self.syscalls.as_ref());
        p.programs
            .extend(self.filter.iter().flat_map(|f| f.program_names()));
        p.programs
            .extend(self.exec.iter().map(|a| a.program.to_string()));
        if self.sampler.is_some() {
            p.programs
                .push(tracer_common::seccomp::SAMPLE_PROGRAM.into());
            if self.syscalls.is_none() {
                p.attach_type = "perf_event".into();
            }
        }
        p.tier = self.tier().name().into();
        p
    }

    pub fn tier(&self) -> Tier {
        self.filter.as_ref().map_or(Tier::Tracepoint, |f| f.tier)
    }

    /// Detaches (or pauses, when other problems share the dispatcher) for the rest of each
    /// period once the on-time is spent.
    pub fn duty_tick(&mut self, ebpf: &mut Ebpf, now: Instant) -> Result<()> {
        let Some(syscalls) = self.syscalls.as_ref() else {
            return Ok(());
        };
        if self.duty_cycle >= 100 {
            return Ok(());
        }
        let mut syscalls = syscalls
            .try_borrow_mut()
            .map_err(|e| anyhow!("seccomp: the dispatcher is busy: {e}"))?;
        if let Some(since) = self.attached_since
            && now - self.period_start >= self.on_time
        {
            syscalls.pause_seccomp(ebpf)?;
            self.observed += now - since;
            self.attached_since = None;
        }
        if now - self.period_start >= self.interval {
            self.period_start = now;
            syscalls.resume_seccomp(ebpf)?;
            self.attached_since = Some(now);
        }
        Ok(())
    }

    /// Reads the maps and attributes processes not seen before, while they are alive.
    pub fn attribute(&mut self, ebpf: &mut Ebpf, attrib: &mut Attributor) -> Result<()> {
        // Named before an execve (runc's `runc:[2:INIT]` before the container's command, with
        // no filter yet): named again from what the exec left.
        let execd = super::take_execs(ebpf);
        if let Some(s) = self.sampler.as_mut() {
            s.drain(ebpf, attrib, &execd)?;
        }
        if self.syscalls.is_none() {
            return Ok(());
        }
        self.analyzer.update(snapshot(ebpf, self.mode)?);
        for tgid in execd {
            self.analyzer.unset_meta(tgid);
        }
        for tgid in self.analyzer.unknown_tgids() {
            let meta = proc_meta(tgid, attrib, ebpf, |p| self.analyzer.meta(p).cloned());
            self.analyzer.set_meta(tgid, meta);
        }
        Ok(())
    }

    pub fn analyzer(&self) -> &Analyzer {
        &self.analyzer
    }

    pub fn analyzer_mut(&mut self) -> &mut Analyzer {
        &mut self.analyzer
    }

    /// Moves dead processes' figures out of the kernel map into the analyzer, so that the map
    /// keeps room for the living (`--max-syscall-keys`). Only processes already attributed:
    /// their name and container are known without the kernel's record of them.
    pub fn retire_dead(&mut self, ebpf: &mut Ebpf) {
        let dead: Vec<u32> = self
            .analyzer
            .tgids()
            .into_iter()
            .filter(|t| {
                !self.analyzer.is_retired(*t)
                    && self.analyzer.meta(*t).is_some()
                    && !crate::node::alive(*t)
            })
            .collect();
        let keys = self.analyzer.retire(&dead);
        super::forget_keys(ebpf, &keys, &[]);
    }

    /// Removes processes from the kernel maps and the figures, to bound a long-lived agent.
    pub fn forget(&mut self, ebpf: &mut Ebpf, tgids: &[u32]) {
        // The sampler's dead processes too, once out of the window.
        if let Some(s) = self.sampler.as_mut() {
            s.forget_dead();
        }
        if tgids.is_empty() {
            return;
        }
        let keys: Vec<SysKey> = self
            .analyzer
            .stats()
            .keys()
            .filter(|k| tgids.contains(&k.tgid))
            .copied()
            .collect();
        super::forget_keys(ebpf, &keys, tgids);
        self.analyzer.forget(tgids);
    }

    pub fn live(&mut self, drops: u64) -> String {
        if self.syscalls.is_none()
            && let Some(s) = self.sampler.as_ref()
        {
            let sec = s.section(Some(self.interval), false);
            let busiest = sec.containers.first().filter(|r| r.samples.seccomp() > 0);
            return format!(
                "seccomp: sampled {} containers/host, busiest {} {:.1} ms/s in seccomp, drops={}",
                sec.containers.len(),
                busiest.map_or_else(|| "-".into(), |r| r.label()),
                busiest.map_or(0.0, |r| r.seccomp.ms_per_s),
                drops + sec.drops
            );
        }
        let total = self.analyzer.total();
        let rate = (total - self.last_total.min(total)) as f64 / self.interval.as_secs_f64();
        self.last_total = total;
        format!(
            "seccomp: {total} syscalls (+{rate:.0}/s) processes={} containers={} drops={drops}",
            self.analyzer.process_count(),
            self.analyzer.container_count(),
        )
    }

    /// The section so far, with the probes still attached: over the sliding window when
    /// `windowed` (serve, the live view), else since the start.
    pub fn report(
        &mut self,
        ebpf: &mut Ebpf,
        attrib: &mut Attributor,
        top: usize,
        windowed: bool,
    ) -> Result<SeccompReport> {
        self.attribute(ebpf, attrib)?;
        let observed = self.observed + self.attached_since.map_or(Duration::ZERO, |s| s.elapsed());
        let mut r = if windowed {
            self.slide();
            let (at, base) = &self.marks[0];
            let secs = at.elapsed().as_secs_f64().min(observed.as_secs_f64());
            self.analyzer.report_since(base, self.mode, secs, top)
        } else {
            self.analyzer.report(self.mode, observed.as_secs_f64(), top)
        };
        r.tier = self.tier().name();
        if self.filter.is_some() {
            r.filter_time = filter_time::measured(&FilterProbe::read(ebpf)?);
        }
        let probes = self.syscalls.is_some();
        r.sampled = self
            .sampler
            .as_ref()
            .map(|s| s.section(windowed.then_some(self.window), probes));
        Ok(r)
    }

    /// Takes a snapshot when the newest is a sixth of the window old, drops those the next
    /// one covers: the first left is the base of the window.
    fn slide(&mut self) {
        let now = Instant::now();
        if self
            .marks
            .back()
            .is_none_or(|(at, _)| now - *at >= self.window / 6)
        {
            self.marks.push_back((now, self.analyzer.stats().clone()));
        }
        while self.marks.len() > 1 && now - self.marks[1].0 >= self.window {
            self.marks.pop_front();
        }
    }

    pub fn finish(
        mut self,
        ebpf: &mut Ebpf,
        attrib: &mut Attributor,
        top: usize,
    ) -> Result<SeccompReport> {
        if let Some(since) = self.attached_since.take() {
            self.observed += since.elapsed();
        }
        let r = self.report(ebpf, attrib, top, false);
        if let Some(mut f) = self.filter.take() {
            f.detach(ebpf);
        }
        if let Some(mut s) = self.sampler.take() {
            s.detach(ebpf);
        }
        r
    }
}
