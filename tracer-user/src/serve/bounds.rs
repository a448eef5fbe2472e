//! The agent's bounded state: caps on processes, containers and kept records, with the oldest
//! evicted first and every eviction counted. Dead processes are forgotten (not evictions):
//! their figures were folded into the totals first.

use std::collections::{BTreeMap, HashMap};

use super::totals::Totals;
use crate::node;
use crate::{
    overlay::run::OverlayRun, seccomp::entry::Seccomp, sem::run::SemRun, sigpipe::run::SigpipeRun,
    trace::Session, zombie::run::ZombieRun,
};

#[derive(Clone, Copy, Debug)]
pub struct Caps {
    pub containers: usize,
    pub processes: usize,
    pub records: usize,
}

#[derive(Default)]
pub struct Bounds {
    /// Interval in which each live process was first seen: the oldest are evicted first.
    first_seen: HashMap<u32, u64>,
    pub evictions: BTreeMap<&'static str, u64>,
}

impl Bounds {
    fn count(&mut self, what: &'static str, n: u64) {
        *self.evictions.entry(what).or_default() += n;
    }

    /// Run after the totals have absorbed this interval's figures.
    pub fn enforce(&mut self, s: &mut Session, totals: &mut Totals, caps: Caps) {
        if let Some((sec, ebpf)) = s.run_mut::<Seccomp>()
            && let Some(sec) = sec.run_mut()
        {
            let tgids = sec.analyzer().tgids();
            let (live, dead): (Vec<u32>, Vec<u32>) = tgids.iter().partition(|t| node::alive(**t));
            sec.forget(ebpf, &dead);
            for t in &live {
                self.first_seen.entry(*t).or_insert(totals.tick);
            }
            self.first_seen.retain(|t, _| live.contains(t));
            if live.len() > caps.processes {
                let mut by_age: Vec<(u64, u32)> =
                    self.first_seen.iter().map(|(t, at)| (*at, *t)).collect();
                by_age.sort_unstable();
                let evict: Vec<u32> = by_age[..live.len() - caps.processes]
                    .iter()
                    .map(|(_, t)| *t)
                    .collect();
                sec.forget(ebpf, &evict);
                for t in &evict {
                    self.first_seen.remove(t);
                }
                self.count("process", evict.len() as u64);
            }
        }
        if let Some((o, _)) = s.run_mut::<OverlayRun>() {
            let (c, e) = o.trim(caps.records, (totals.copy_ups_seen, totals.exdev_seen));
            totals.copy_ups_seen -= c;
            totals.exdev_seen -= e;
            self.count("copy_up_record", c as u64);
            self.count("exdev_record", e as u64);
        }
        if let Some((p, ebpf)) = s.run_mut::<SigpipeRun>() {
            let n = p.trim(ebpf, caps.records, totals.signals_seen);
            totals.signals_seen -= n;
            self.count("sigpipe_record", n as u64);
        }
        if let Some((z, _)) = s.run_mut::<ZombieRun>() {
            z.forget_reaped();
        }
        s.attrib.forget_dead();
        let n = totals.cap_containers(caps.containers);
        self.count("container", n);
    }

    /// What is held now, by kind, for the `ctrace_tracked` gauge.
    pub fn tracked(s: &Session, totals: &Totals) -> Vec<(&'static str, u64)> {
        let mut v = vec![("container", totals.containers() as u64)];
        if let Some(sec) = s.run::<Seccomp>().and_then(Seccomp::run) {
            v.push(("process", sec.analyzer().tgids().len() as u64));
        }
        if let Some(o) = s.run::<OverlayRun>() {
            v.push(("copy_up_record", o.analyzer().copy_ups.len() as u64));
            v.push(("exdev_record", o.analyzer().exdev.len() as u64));
        }
        if let Some(p) = s.run::<SigpipeRun>() {
            v.push(("sigpipe_record", p.analyzer().signals.len() as u64));
        }
        if let Some(m) = s.run::<SemRun>() {
            v.push(("sem_set", m.analyzer.set_count() as u64));
        }
        if let Some(z) = s.run::<ZombieRun>() {
            v.push(("zombie", z.current() as u64));
        }
        v
    }
}
