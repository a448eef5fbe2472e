//! seccomp in the registry: its start, its run as the session drives it (duty cycle, periodic
//! attribution, the calibration once every probe is gone), its report section.

use std::{
    any::Any,
    time::{Duration, Instant},
};

use anyhow::Result;
use tracer_common::Drop;

use super::{
    analyzer::SeccompReport,
    doctor::tier_check,
    filter_time,
    run::SeccompRun,
    slowdown::{self, Calibrator},
    text,
};
use crate::{
    problem::Problem,
    shared::{Cx, Entry, Finding, Part, ProbeInfo, ProblemRun, Start},
};

pub const ENTRY: Entry = Entry {
    problem: Problem::Seccomp,
    start,
    doctor: Vec::new,
    tier_check: Some(tier_check),
    drops: &[Drop::TidOutOfRange, Drop::HistMapFull, Drop::CountMapFull],
};

/// How often new processes in the seccomp maps are attributed, while they live.
const ATTRIBUTE_EVERY: Duration = Duration::from_millis(250);

/// The run, with what the session kept for it before the registry.
pub struct Seccomp {
    /// None once finished (`SeccompRun::finish` consumes it).
    run: Option<SeccompRun>,
    next_attrib: Instant,
    /// Calibrations are cached per filter, so only a new filter costs a measurement.
    calibrator: Calibrator,
}

impl Seccomp {
    pub fn run(&self) -> Option<&SeccompRun> {
        self.run.as_ref()
    }

    pub fn run_mut(&mut self) -> Option<&mut SeccompRun> {
        self.run.as_mut()
    }
}

fn start(s: &mut Start) -> Result<Box<dyn ProblemRun>> {
    let run = SeccompRun::start(s.ebpf, s.args, s.features, s.wish)?;
    Ok(Box::new(Seccomp {
        run: Some(run),
        next_attrib: Instant::now(),
        calibrator: Calibrator::default(),
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

    fn live(&mut self, drops: u64) -> String {
        self.run
            .as_mut()
            .map_or_else(String::new, |s| s.live(drops))
    }

    fn report(&mut self, cx: &mut Cx, top: usize) -> Result<Part> {
        match self.run.as_mut() {
            Some(s) => Ok(part(s.report(cx.ebpf, cx.attrib, top)?)),
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
        // Calibrated with every probe gone: syscall tracepoints slow down every task alike.
        if detached {
            filter_time::calibrate(&mut r.filter_time, &mut self.calibrator);
        }
        slowdown::findings(r, &mut self.calibrator)
    }
}
