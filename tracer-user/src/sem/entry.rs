//! sem in the registry: its start, its run as the session drives it, its report section.

use anyhow::Result;
use std::time::Instant;
use tracer_common::Drop;

use std::any::Any;

use super::{analyzer::SemReport, doctor::doctor_checks, run::SemRun, serve, text};
use crate::{
    attrib::parent_of,
    problem::Problem,
    shared::{Cx, Entry, Part, ProbeInfo, ProblemRun, Section, Start, metric::Family},
};

pub const ENTRY: Entry = Entry {
    problem: Problem::Sem,
    start,
    doctor: doctor_checks,
    tier_check: None,
    drops: &[Drop::SemRingFull, Drop::SemArgsFull, Drop::SemQueueFull],
};

fn start(s: &mut Start) -> Result<Box<dyn ProblemRun>> {
    let leak_age = s.args.sem_leak_age.as_secs_f64();
    Ok(Box::new(SemRun::start(
        s.ebpf,
        s.syscalls.as_ref(),
        leak_age,
        s.attrib,
    )?))
}

crate::section!(SemReport, text::render);

// `SemRun::x(self, ..)` calls the run's own method of the same name, not this trait's.
impl ProblemRun for SemRun {
    fn probe_info(&self) -> ProbeInfo {
        SemRun::probe_info(self)
    }

    fn tick(&mut self, cx: &mut Cx, _now: Instant) -> Result<()> {
        let ebpf = &*cx.ebpf;
        self.poll(cx.attrib, &|p| parent_of(ebpf, p));
        Ok(())
    }

    fn refresh(&mut self, cx: &mut Cx, inventories: bool) {
        if inventories {
            SemRun::refresh(self, cx.attrib);
        }
    }

    fn live(&mut self, drops: u64) -> String {
        format!("{} drops={drops}", SemRun::live(self))
    }

    fn report(&mut self, cx: &mut Cx, _top: usize) -> Result<Part> {
        let ebpf = &*cx.ebpf;
        let (r, findings) = SemRun::report(self, cx.attrib, &|p| parent_of(ebpf, p));
        let e = &r.events;
        let n = e.semget + e.semget_failed + e.rmid + e.use_;
        Ok(Part::new(n, r, findings))
    }

    fn tracked(&self) -> Vec<(&'static str, u64)> {
        vec![("sem_set", self.analyzer.set_count() as u64)]
    }

    fn metrics(&self, section: &dyn Section) -> Vec<Family> {
        (section as &dyn Any)
            .downcast_ref::<SemReport>()
            .map(serve::families)
            .unwrap_or_default()
    }
}
