//! seccomp in the registry: its start, its run as the session drives it (duty cycle, periodic
//! attribution, the calibration once every probe is gone), its report section.

use std::{
    any::Any,
    time::{Duration, Instant},
};

use anyhow::Result;
use aya::Ebpf;
use tracer_common::Drop;

use super::{
    analyzer::SeccompReport, calibration::Worker, doctor::tier_check, filter_time, run::SeccompRun,
    sampled_finding, serve::Serve, slowdown, text,
};
use crate::{
    problem::Problem,
    shared::{
        Caps, Cx, Entry, Evictions, Finding, Part, ProbeInfo, ProblemRun, Section, Start,
        metric::Family,
        series::{Ctr, Touched},
    },
};

pub const ENTRY: Entry = Entry {
    problem: Problem::Seccomp,
    start,
    doctor: Vec::new,
    tier_check: Some(tier_check),
    drops: &[
        Drop::TidOutOfRange,
        Drop::HistMapFull,
        Drop::CountMapFull,
        Drop::SeccompSlotTaken,
        Drop::ExecMapFull,
    ],
};

/// How often new processes in the seccomp maps are attributed, while they live.
const ATTRIBUTE_EVERY: Duration = Duration::from_millis(250);

/// The run, with what the session kept for it before the registry.
struct Seccomp {
    /// None once finished (`SeccompRun::finish` consumes it).
    run: Option<SeccompRun>,
    next_attrib: Instant,
    /// Calibrations are cached per filter, so only a new filter costs a measurement.
    calibrator: Worker,
    serve: Serve,
}

fn start(s: &mut Start) -> Result<Box<dyn ProblemRun>> {
    let syscalls = match (s.syscalls.clone(), s.args.sampled) {
        (_, true) => None,
        (Some(d), false) => Some(d),
        (None, false) => anyhow::bail!("seccomp: the syscall dispatcher is not attached"),
    };
    let mut run = SeccompRun::start(s.ebpf, syscalls, s.args, s.features, s.wish)?;
    run.analyzer_mut().sort = s.args.sort;
    Ok(Box::new(Seccomp {
        run: Some(run),
        next_attrib: Instant::now(),
        calibrator: Worker::default(),
        serve: Serve::default(),
    }))
}

crate::section!(SeccompReport, text::render);

fn part(r: SeccompReport) -> Part {
    // Its findings come in `settle`: they need the calibration.
    Part::new(r.syscalls, r, Vec::new())
}

impl ProblemRun for Seccomp {
    fn probe_info(&self) -> ProbeInfo {
        self.run.as_ref().map_or_else(
            || ProbeInfo {
                problem: "seccomp".into(),
                attach_type: String::new(),
                tier: String::new(),
                programs: Vec::new(),
            },
            SeccompRun::probe_info,
        )
    }

    fn tick_order(&self) -> u8 {
        2
    }

    fn tick(&mut self, cx: &mut Cx, now: Instant) -> Result<()> {
        let Some(s) = self.run.as_mut() else {
            return Ok(());
        };
        s.duty_tick(cx.ebpf, now)?;
        if now >= self.next_attrib {
            self.next_attrib = now + ATTRIBUTE_EVERY;
            s.attribute(cx.ebpf, cx.attrib)?;
        }
        Ok(())
    }

    fn refresh(&mut self, cx: &mut Cx, _inventories: bool) {
        if let Some(s) = self.run.as_mut() {
            s.retire_dead(cx.ebpf);
        }
    }

    fn live(&mut self, drops: u64) -> String {
        self.run
            .as_mut()
            .map_or_else(String::new, |s| s.live(drops))
    }

    fn report(&mut self, cx: &mut Cx, top: usize) -> Result<Part> {
        match self.run.as_mut() {
            Some(s) => Ok(part(s.report(cx.ebpf, cx.attrib, top, true)?)),
            None => anyhow::bail!("seccomp: the run has finished"),
        }
    }

    fn finish(&mut self, cx: &mut Cx, top: usize) -> Result<Part> {
        match self.run.take() {
            Some(s) => Ok(part(s.finish(cx.ebpf, cx.attrib, top)?)),
            None => anyhow::bail!("seccomp: the run has finished"),
        }
    }

    fn settle(&mut self, part: &mut Part, detached: bool) -> Vec<Finding> {
        let Some(r) = (part.section.as_mut() as &mut dyn Any).downcast_mut::<SeccompReport>()
        else {
            return Vec::new();
        };
        // The calibration needs every syscall probe gone (they slow down every task alike):
        // trace calibrates once detached; serve and the live view never do, and rely on the
        // sampled figure and the kernel tier.
        if !detached {
            return sampled_finding::findings(r, None);
        }
        self.calibrator.forget_measured();
        filter_time::calibrate(&mut r.filter_time, &mut self.calibrator);
        // The calibration's per-container costs for the tables, and its findings where no
        // sample was taken (the sampler could not attach).
        let calibrated = if r.syscalls > 0 {
            slowdown::findings(r, &mut self.calibrator)
        } else {
            Vec::new()
        };
        if r.sampled.is_some() {
            sampled_finding::findings(r, Some(&mut self.calibrator))
        } else {
            calibrated
        }
    }

    fn absorb(&mut self, touched: &mut Touched, _now: f64) {
        if let Some(s) = self.run.as_ref() {
            self.serve.absorb(s.analyzer(), touched);
        }
    }

    fn bound(&mut self, ebpf: &mut Ebpf, caps: Caps, tick: u64, evicted: &mut Evictions) {
        if let Some(s) = self.run.as_mut() {
            self.serve.bound(s, ebpf, caps, tick, evicted);
        }
    }

    fn forget_containers(&mut self, gone: &[Ctr]) {
        self.serve.forget_containers(gone);
    }

    fn tracked(&self) -> Vec<(&'static str, u64)> {
        let n = self.run.as_ref().map_or(0, |s| s.analyzer().tgids().len());
        vec![("process", n as u64)]
    }

    fn metrics(&self, section: &dyn Section) -> Vec<Family> {
        let r = (section as &dyn Any).downcast_ref::<SeccompReport>();
        let latency = r.is_some_and(|r| r.mode == "latency");
        self.serve.families(latency)
    }
}
