//! sigpipe in the registry: its start, its run as the session drives it, its report section.

use std::time::Instant;

use anyhow::Result;
use tracer_common::Drop;

use super::{analyzer::SigpipeReport, doctor::doctor_checks, run::SigpipeRun, text};
use crate::{
    problem::Problem,
    shared::{Cx, Entry, Part, ProbeInfo, ProblemRun, Start},
};

pub const ENTRY: Entry = Entry {
    problem: Problem::Sigpipe,
    start,
    doctor: doctor_checks,
    tier_check: None,
    drops: &[Drop::SigpipeRingFull],
};

fn start(s: &mut Start) -> Result<Box<dyn ProblemRun>> {
    Ok(Box::new(SigpipeRun::start(s.ebpf, s.args.comms.clone())?))
}

crate::section!(SigpipeReport, text::render);

// `SigpipeRun::x(self, ..)` calls the run's own method of the same name, not this trait's.
impl ProblemRun for SigpipeRun {
    fn probe_info(&self) -> ProbeInfo {
        SigpipeRun::probe_info(self)
    }

    fn tick(&mut self, cx: &mut Cx, _now: Instant) -> Result<()> {
        self.poll(cx.attrib);
        Ok(())
    }

    /// The watched daemons' fds: a process killed by SIGPIPE is gone before it can be looked at.
    fn refresh(&mut self, _cx: &mut Cx, _inventories: bool) {
        self.scan();
    }

    fn live(&mut self, drops: u64) -> String {
        format!("{} drops={drops}", SigpipeRun::live(self))
    }

    fn report(&mut self, cx: &mut Cx, _top: usize) -> Result<Part> {
        let (r, findings) = SigpipeRun::report(self, cx.ebpf, cx.attrib);
        Ok(Part::new(r.sigpipes as u64, r, findings))
    }
}
