//! overlay in the registry: its start, its run as the session drives it, its report section.

use std::time::Instant;

use anyhow::Result;
use tracer_common::Drop;

use super::{
    analyzer::OverlayReport,
    doctor::{doctor_checks, tier_check},
    run::OverlayRun,
    text,
};
use crate::{
    problem::Problem,
    shared::{Cx, Entry, Part, ProbeInfo, ProblemRun, Start},
    trace::meta::parent_of,
};

pub const ENTRY: Entry = Entry {
    problem: Problem::Overlay,
    start,
    doctor: doctor_checks,
    tier_check: Some(tier_check),
    drops: &[Drop::OverlayRingFull, Drop::OverlayArgsFull],
};

fn start(s: &mut Start) -> Result<Box<dyn ProblemRun>> {
    Ok(Box::new(OverlayRun::start(s.ebpf, s.features, s.wish)?))
}

crate::section!(OverlayReport, text::render);

// `OverlayRun::x(self, ..)` calls the run's own method of the same name, not this trait's.
impl ProblemRun for OverlayRun {
    fn probe_info(&self) -> ProbeInfo {
        OverlayRun::probe_info(self)
    }

    fn tick(&mut self, cx: &mut Cx, _now: Instant) -> Result<()> {
        let ebpf = &*cx.ebpf;
        self.poll(cx.attrib, &|p| parent_of(ebpf, p));
        Ok(())
    }

    fn live(&mut self, drops: u64) -> String {
        format!("{} drops={drops}", OverlayRun::live(self))
    }

    fn report(&mut self, cx: &mut Cx, _top: usize) -> Result<Part> {
        let ebpf = &*cx.ebpf;
        let (r, findings) = OverlayRun::report(self, ebpf, cx.attrib, &|p| parent_of(ebpf, p));
        Ok(Part::new(r.checked, r, findings))
    }
}
