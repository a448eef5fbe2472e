//! seccomp in `ctrace serve`: syscall counters that only grow, by container and class, and the
//! cap on traced processes (the oldest are evicted, in the kernel maps too).

use std::collections::{BTreeMap, HashMap};

use aya::Ebpf;
use tracer_common::seccomp::SysKey;

use super::{SysStats, analyzer::Analyzer, class::class_of, run::SeccompRun};
use crate::{
    node,
    shared::{
        Caps, Evictions,
        metric::{Family, ctr_labels},
        series::{Ctr, Hist, Touched},
    },
};

#[derive(Default)]
pub struct Serve {
    syscalls: BTreeMap<(Ctr, &'static str), Hist>,
    last_sys: HashMap<SysKey, SysStats>,
    /// Interval in which each live process was first seen: the oldest are evicted first.
    first_seen: HashMap<u32, u64>,
}

impl Serve {
    pub fn absorb(&mut self, a: &Analyzer, touched: &mut Touched) {
        self.absorb_syscalls(a.stats(), touched, |tgid| {
            Ctr::of(a.meta(tgid).and_then(|m| m.container.as_ref()))
        });
    }

    /// Folds the growth of every (process, syscall) pair into its container and class.
    fn absorb_syscalls(
        &mut self,
        stats: &HashMap<SysKey, SysStats>,
        touched: &mut Touched,
        ctr_of: impl Fn(u32) -> Ctr,
    ) {
        for (k, s) in stats {
            let d = s.since(self.last_sys.get(k));
            if d.count > 0 {
                let c = ctr_of(k.tgid);
                touched.touch(&c);
                let h = self.syscalls.entry((c, class_of(k.nr))).or_default();
                h.count += d.count;
                h.sum_ns += d.total_ns;
                for (i, n) in d.hist.slots.iter().enumerate() {
                    h.slots[i] += n;
                }
            }
            self.last_sys.insert(*k, s.clone());
        }
        // Forgotten processes are gone from the snapshot; so is their baseline.
        self.last_sys.retain(|k, _| stats.contains_key(k));
    }

    /// Dead processes leave the kernel maps and the figures (their counts were absorbed);
    /// beyond the cap, the oldest live ones are evicted.
    pub fn bound(
        &mut self,
        sec: &mut SeccompRun,
        ebpf: &mut Ebpf,
        caps: Caps,
        tick: u64,
        evicted: &mut Evictions,
    ) {
        let tgids = sec.analyzer().tgids();
        let (live, dead): (Vec<u32>, Vec<u32>) = tgids.iter().partition(|t| node::alive(**t));
        sec.forget(ebpf, &dead);
        for t in &live {
            self.first_seen.entry(*t).or_insert(tick);
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
            *evicted.entry("process").or_default() += evict.len() as u64;
        }
    }

    pub fn forget_containers(&mut self, gone: &[Ctr]) {
        self.syscalls.retain(|(k, _), _| !gone.contains(k));
    }

    pub fn families(&self, latency_mode: bool) -> Vec<Family> {
        let labels = |c: &Ctr, class: &str| ctr_labels(c, &[("class", class)]);
        let mut out = vec![Family::counter(
            "ctrace_syscalls",
            "Syscalls traced, by container and syscall class.",
            self.syscalls
                .iter()
                .map(|((c, class), h)| (labels(c, class), h.count))
                .collect(),
        )];
        if latency_mode {
            out.push(Family::histogram(
                "ctrace_syscall_latency",
                "Time inside syscalls (entry to exit), by container and syscall class.",
                self.syscalls
                    .iter()
                    .map(|((c, class), h)| (labels(c, class), h.clone()))
                    .collect(),
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hist::Log2Hist;

    fn stats(count: u64, slot: usize) -> SysStats {
        let mut hist = Log2Hist::default();
        hist.slots[slot] = count;
        SysStats {
            count,
            total_ns: count * 100,
            hist,
        }
    }

    fn ctr(name: &str) -> Ctr {
        Ctr {
            name: name.into(),
            id: name.into(),
            origin: Default::default(),
        }
    }

    #[test]
    fn syscall_counters_grow_by_deltas_and_survive_forgetting() {
        let mut t = Serve::default();
        let mut touched = Touched::default();
        let k = SysKey { tgid: 7, nr: 39 }; // getpid: process
        let mut snap = HashMap::from([(k, stats(10, 6))]);
        t.absorb_syscalls(&snap, &mut touched, |_| ctr("web"));
        snap.insert(k, stats(25, 6));
        t.absorb_syscalls(&snap, &mut touched, |_| ctr("web"));
        let h = &t.syscalls[&(ctr("web"), "process")];
        assert_eq!((h.count, h.sum_ns, h.slots[6]), (25, 2500, 25));
        // The process is forgotten: the counter keeps its value.
        t.absorb_syscalls(&HashMap::new(), &mut touched, |_| ctr("web"));
        assert_eq!(t.syscalls[&(ctr("web"), "process")].count, 25);
        // Its pid comes back as a new process: everything it did is new.
        let back = HashMap::from([(k, stats(3, 6))]);
        t.absorb_syscalls(&back, &mut touched, |_| ctr("web"));
        assert_eq!(t.syscalls[&(ctr("web"), "process")].count, 28);
    }
}
