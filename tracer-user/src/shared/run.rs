//! The contract between a problem and everything that drives it: its registry entry (what it
//! does before and outside a run: start, doctor checks, drop reasons) and its run (what it does
//! while attached). Session, report, serve and doctor only ever see these.

use std::{any::Any, collections::BTreeMap, time::Instant};

use anyhow::Result;
use aya::Ebpf;
use tracer_common::Drop;

use super::{
    Check, Finding, Part, ProbeInfo, Section,
    metric::Family,
    series::{Ctr, Touched},
};
use crate::{
    attrib::Attributor,
    cli::TraceArgs,
    problem::Problem,
    tier::{Features, Tier},
};

/// `ctrace doctor`'s tier line of a problem with a kernel tier, found by attaching for real.
pub type TierCheck = fn(&mut Ebpf, Features, Option<Tier>) -> Check;

/// One problem, as the registry lists it.
pub struct Entry {
    pub problem: Problem,
    /// Attaches the problem's programs in the loaded object and starts its run.
    pub start: fn(&mut Start) -> Result<Box<dyn ProblemRun>>,
    /// `ctrace doctor`: the problem's own node checks.
    pub doctor: fn() -> Vec<Check>,
    /// `ctrace doctor`: the tier a real attach of its kernel-tier programs gives; None when
    /// tracepoints are its only tier.
    pub tier_check: Option<TierCheck>,
    /// The kernel's drop reasons (`DROPS` slots) that count against this problem.
    pub drops: &'static [Drop],
}

impl Entry {
    pub fn name(&self) -> &'static str {
        self.problem.name()
    }
}

/// What a problem gets to start with.
pub struct Start<'a> {
    pub ebpf: &'a mut Ebpf,
    pub attrib: &'a mut Attributor,
    pub args: &'a TraceArgs,
    /// The feature probes' results and `CTRACE_TIER`, for problems with a kernel tier.
    pub features: Features,
    pub wish: Option<Tier>,
    /// The one sys_enter/sys_exit dispatcher of the syscall-based problems, attached before
    /// they start; None when none of them is asked.
    pub syscalls: Option<crate::syscalls::Shared>,
}

/// What a run gets at each step: the loaded object and the attribution cache.
pub struct Cx<'a> {
    pub ebpf: &'a mut Ebpf,
    pub attrib: &'a mut Attributor,
}

/// serve's caps on the state it keeps.
#[derive(Clone, Copy, Debug)]
pub struct Caps {
    pub containers: usize,
    pub processes: usize,
    pub records: usize,
}

/// State dropped to stay within the caps, by kind (`ctrace_evictions`).
pub type Evictions = BTreeMap<&'static str, u64>;

/// A problem while it is attached, driven by `trace::Session` (for `trace` and `serve`).
pub trait ProblemRun: Any {
    fn probe_info(&self) -> ProbeInfo;

    /// Every tick (50 ms): ring buffers (so bursts don't overflow them), duty cycle, attribution.
    fn tick(&mut self, cx: &mut Cx, now: Instant) -> Result<()>;

    /// Runs tick in increasing order: zombie's reaps drop attribution the event-driven
    /// problems may still need (1); seccomp attributes new processes once every reap is in (2).
    fn tick_order(&self) -> u8 {
        0
    }

    /// Every interval: caches, and the inventories unless a report follows (it takes them).
    fn refresh(&mut self, _cx: &mut Cx, _inventories: bool) {}

    /// Its part of the live line; `drops` are the events it lost so far.
    fn live(&mut self, drops: u64) -> String;

    /// Its part of the report so far, with its probes still attached.
    fn report(&mut self, cx: &mut Cx, top: usize) -> Result<Part>;

    /// Its last part of the report; its probes are detached afterwards.
    fn finish(&mut self, cx: &mut Cx, top: usize) -> Result<Part> {
        self.report(cx, top)
    }

    /// Findings that need every part first and, once `detached`, a node without probes
    /// (seccomp's calibration); they follow every other finding.
    fn settle(&mut self, _part: &mut Part, _detached: bool) -> Vec<Finding> {
        Vec::new()
    }

    /// serve, each interval after a report: folds what grew into counters that only grow
    /// (forgetting a dead process then loses nothing), touching the containers that grew.
    fn absorb(&mut self, _touched: &mut Touched, _now: f64) {}

    /// serve: forgets dead processes and enforces the caps; `tick` numbers the interval.
    fn bound(&mut self, _ebpf: &mut Ebpf, _caps: Caps, _tick: u64, _evicted: &mut Evictions) {}

    /// serve: drops the series of containers the container cap evicted.
    fn forget_containers(&mut self, _gone: &[Ctr]) {}

    /// serve: the state held now, by kind (`ctrace_tracked`).
    fn tracked(&self) -> Vec<(&'static str, u64)> {
        Vec::new()
    }

    /// serve: its metric families, from its counters and its section of the latest report.
    fn metrics(&self, _section: &dyn Section) -> Vec<Family> {
        Vec::new()
    }
}
