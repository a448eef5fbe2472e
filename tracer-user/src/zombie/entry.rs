//! zombie in the registry: its start, its run as the session drives it, its report section.

use std::{any::Any, time::Instant};

use anyhow::Result;
use aya::Ebpf;
use tracer_common::Drop;

use super::{analyzer::ZombieReport, doctor::doctor_checks, run::ZombieRun, serve, text};
use crate::{
    attrib::Attributor,
    problem::Problem,
    shared::{
        Caps, Check, Cx, Entry, Evictions, Part, ProbeInfo, ProblemRun, Section, Start,
        metric::Family,
    },
};

pub const ENTRY: Entry = Entry {
    problem: Problem::Zombie,
    start,
    doctor,
    tier_check: None,
    drops: &[
        Drop::ZombieRingFull,
        Drop::ZombieWatchFull,
        Drop::ZombieQueueFull,
    ],
};

fn start(s: &mut Start) -> Result<Box<dyn ProblemRun>> {
    let age = s.args.zombie_age.as_secs_f64();
    Ok(Box::new(ZombieRun::start(s.ebpf, age, s.attrib)?))
}

fn doctor() -> Vec<Check> {
    let mut attrib = Attributor::new();
    attrib.settle();
    doctor_checks(&mut attrib)
}

crate::section!(ZombieReport, text::render);

// `ZombieRun::x(self, ..)` calls the run's own method of the same name, not this trait's.
impl ProblemRun for ZombieRun {
    fn probe_info(&self) -> ProbeInfo {
        ZombieRun::probe_info(self)
    }

    fn tick(&mut self, cx: &mut Cx, _now: Instant) -> Result<()> {
        self.poll(cx.attrib);
        Ok(())
    }

    fn tick_order(&self) -> u8 {
        1
    }

    fn refresh(&mut self, cx: &mut Cx, inventories: bool) {
        if inventories {
            self.rescan(cx.attrib);
        }
    }

    fn live(&mut self, drops: u64) -> String {
        format!("{} drops={drops}", ZombieRun::live(self))
    }

    fn report(&mut self, cx: &mut Cx, _top: usize) -> Result<Part> {
        let (r, findings) = ZombieRun::report(self, cx.attrib);
        Ok(Part::new(r.exits, r, findings))
    }

    fn bound(&mut self, _ebpf: &mut Ebpf, _caps: Caps, _tick: u64, _evicted: &mut Evictions) {
        self.forget_reaped();
    }

    fn tracked(&self) -> Vec<(&'static str, u64)> {
        vec![("zombie", self.held() as u64)]
    }

    fn metrics(&self, section: &dyn Section) -> Vec<Family> {
        (section as &dyn Any)
            .downcast_ref::<ZombieReport>()
            .map(serve::families)
            .unwrap_or_default()
    }
}
