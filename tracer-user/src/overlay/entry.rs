//! overlay in the registry: its start, its run as the session drives it, its report section.

use std::time::Instant;

use anyhow::Result;
use aya::Ebpf;
use tracer_common::Drop;

use super::{
    analyzer::OverlayReport,
    doctor::{doctor_checks, tier_check},
    run::OverlayRun,
    serve::Serve,
    text,
};
use crate::{
    attrib::parent_of,
    problem::Problem,
    shared::{
        Caps, Cx, Entry, Evictions, Part, ProbeInfo, ProblemRun, Section, Start,
        metric::Family,
        series::{Ctr, Touched},
    },
};

pub const ENTRY: Entry = Entry {
    problem: Problem::Overlay,
    start,
    doctor: doctor_checks,
    tier_check: Some(tier_check),
    drops: &[
        Drop::OverlayRingFull,
        Drop::OverlayArgsFull,
        Drop::OverlayQueueFull,
    ],
};

/// The run, and what serve keeps of it.
struct Overlay {
    run: OverlayRun,
    serve: Serve,
}

fn start(s: &mut Start) -> Result<Box<dyn ProblemRun>> {
    Ok(Box::new(Overlay {
        run: OverlayRun::start(s.ebpf, s.syscalls.as_ref(), s.features, s.wish)?,
        serve: Serve::default(),
    }))
}

crate::section!(OverlayReport, text::render);

impl ProblemRun for Overlay {
    fn probe_info(&self) -> ProbeInfo {
        self.run.probe_info()
    }

    fn tick(&mut self, cx: &mut Cx, _now: Instant) -> Result<()> {
        let ebpf = &*cx.ebpf;
        self.run.poll(cx.attrib, &|p| parent_of(ebpf, p));
        Ok(())
    }

    fn live(&mut self, drops: u64) -> String {
        format!("{} drops={drops}", self.run.live())
    }

    fn report(&mut self, cx: &mut Cx, _top: usize) -> Result<Part> {
        let ebpf = &*cx.ebpf;
        let (r, findings) = self.run.report(ebpf, cx.attrib, &|p| parent_of(ebpf, p));
        Ok(Part::new(r.checked, r, findings))
    }

    fn absorb(&mut self, touched: &mut Touched, _now: f64) {
        self.serve.absorb(&self.run, touched);
    }

    fn bound(&mut self, _ebpf: &mut Ebpf, caps: Caps, _tick: u64, evicted: &mut Evictions) {
        self.serve.bound(&mut self.run, caps.records, evicted);
    }

    fn forget_containers(&mut self, gone: &[Ctr]) {
        self.serve.forget_containers(gone);
    }

    fn tracked(&self) -> Vec<(&'static str, u64)> {
        let a = self.run.analyzer();
        vec![
            ("copy_up_record", a.copy_ups.len() as u64),
            ("exdev_record", a.exdev.len() as u64),
        ]
    }

    fn metrics(&self, _section: &dyn Section) -> Vec<Family> {
        self.serve.families()
    }
}
