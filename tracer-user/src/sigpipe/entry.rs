//! sigpipe in the registry: its start, its run as the session drives it, its report section.

use std::time::Instant;

use anyhow::Result;
use aya::Ebpf;
use tracer_common::Drop;

use super::{analyzer::SigpipeReport, doctor::doctor_checks, run::SigpipeRun, serve::Serve, text};
use crate::{
    problem::Problem,
    shared::{
        Caps, Cx, Entry, Evictions, Part, ProbeInfo, ProblemRun, Section, Start,
        metric::Family,
        series::{Ctr, Touched},
    },
};

pub const ENTRY: Entry = Entry {
    problem: Problem::Sigpipe,
    start,
    doctor: doctor_checks,
    tier_check: None,
    drops: &[
        Drop::SigpipeRingFull,
        Drop::SigpipeSlotTaken,
        Drop::SigpipeTotalsFull,
        Drop::SigpipeQueueFull,
    ],
};

/// The run, and what serve keeps of it.
struct Sigpipe {
    run: SigpipeRun,
    serve: Serve,
}

fn start(s: &mut Start) -> Result<Box<dyn ProblemRun>> {
    Ok(Box::new(Sigpipe {
        run: SigpipeRun::start(s.ebpf, s.syscalls.as_ref(), s.args.comms.clone())?,
        serve: Serve::default(),
    }))
}

crate::section!(SigpipeReport, text::render);

impl ProblemRun for Sigpipe {
    fn probe_info(&self) -> ProbeInfo {
        self.run.probe_info()
    }

    fn tick(&mut self, cx: &mut Cx, _now: Instant) -> Result<()> {
        self.run.poll(cx.attrib);
        Ok(())
    }

    /// The watched daemons' fds: a process killed by SIGPIPE is gone before it can be looked at.
    fn refresh(&mut self, _cx: &mut Cx, _inventories: bool) {
        self.run.scan();
    }

    fn live(&mut self, drops: u64) -> String {
        format!("{} drops={drops}", self.run.live())
    }

    fn report(&mut self, cx: &mut Cx, _top: usize) -> Result<Part> {
        let (r, findings) = self.run.report(cx.ebpf, cx.attrib);
        Ok(Part::new(r.sigpipes, r, findings))
    }

    fn absorb(&mut self, touched: &mut Touched, _now: f64) {
        if let Some(t) = self.run.analyzer().totals() {
            self.serve
                .absorb_totals(t, &self.run.totals_containers, touched);
        }
    }

    fn bound(&mut self, ebpf: &mut Ebpf, caps: Caps, _tick: u64, evicted: &mut Evictions) {
        self.serve.bound(&mut self.run, ebpf, caps.records, evicted);
    }

    fn forget_containers(&mut self, gone: &[Ctr]) {
        self.serve.forget_containers(gone);
    }

    fn tracked(&self) -> Vec<(&'static str, u64)> {
        vec![("sigpipe_record", self.run.analyzer().signals.len() as u64)]
    }

    fn metrics(&self, _section: &dyn Section) -> Vec<Family> {
        self.serve.families()
    }
}
