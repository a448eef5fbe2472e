//! Counters that only grow, fed from the analyzers each interval. Prometheus needs monotonic
//! series, while the agent forgets dead processes and trims old records to stay bounded; so
//! deltas are folded in here before anything is forgotten.

use std::collections::{BTreeMap, HashMap};

use tracer_common::seccomp::{HIST_SLOTS, SysKey, log2_slot};

use crate::{
    attrib::Container,
    overlay::analyzer::CopyUp,
    seccomp::{SysStats, class::class_of},
    sigpipe::analyzer::{DEATH_WINDOW_S, Signal},
};

/// The container labels of a series; ("host", "") outside containers.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ctr {
    pub name: String,
    pub id: String,
}

impl Ctr {
    pub fn host() -> Ctr {
        Ctr {
            name: "host".into(),
            id: String::new(),
        }
    }

    pub fn of(c: Option<&Container>) -> Ctr {
        match c {
            None => Ctr::host(),
            Some(c) => {
                let id: String = c.id.chars().take(12).collect();
                Ctr {
                    name: c.name.clone().unwrap_or_else(|| id.clone()),
                    id,
                }
            }
        }
    }
}

/// A cumulative log2 latency histogram (the kernel's slot edges).
#[derive(Clone, Debug, PartialEq)]
pub struct Hist {
    pub count: u64,
    pub sum_ns: u64,
    pub slots: [u64; HIST_SLOTS],
}

impl Default for Hist {
    fn default() -> Self {
        Hist {
            count: 0,
            sum_ns: 0,
            slots: [0; HIST_SLOTS],
        }
    }
}

impl Hist {
    fn observe(&mut self, ns: u64) {
        self.count += 1;
        self.sum_ns += ns;
        self.slots[log2_slot(ns)] += 1;
    }
}

/// What grew between two snapshots of one key; a key whose figures shrank was deleted and
/// recreated (pid reuse), so all of it is new.
fn delta(now: &SysStats, last: Option<&SysStats>) -> SysStats {
    match last {
        Some(l) if l.count <= now.count => {
            let mut d = SysStats {
                count: now.count - l.count,
                total_ns: now.total_ns.saturating_sub(l.total_ns),
                ..Default::default()
            };
            for (i, s) in d.hist.slots.iter_mut().enumerate() {
                *s = now.hist.slots[i].saturating_sub(l.hist.slots[i]);
            }
            d
        }
        _ => now.clone(),
    }
}

#[derive(Default)]
pub struct Totals {
    pub syscalls: BTreeMap<(Ctr, &'static str), Hist>,
    last_sys: HashMap<SysKey, SysStats>,
    pub copy_up: BTreeMap<Ctr, Hist>,
    pub copy_up_bytes: BTreeMap<Ctr, u64>,
    pub exdev: BTreeMap<Ctr, u64>,
    pub sigpipe: BTreeMap<(Ctr, &'static str), u64>,
    /// Leading records of each analyzer list already counted (the trimmer keeps these in step).
    pub copy_ups_seen: usize,
    pub exdev_seen: usize,
    pub signals_seen: usize,
    /// Interval in which each container's series last grew: the cap evicts the stalest.
    pub touched: BTreeMap<Ctr, u64>,
    pub tick: u64,
}

impl Totals {
    fn touch(&mut self, c: &Ctr) {
        self.touched.insert(c.clone(), self.tick);
    }

    /// Folds the growth of every (process, syscall) pair into its container and class.
    pub fn absorb_syscalls(
        &mut self,
        stats: &HashMap<SysKey, SysStats>,
        ctr_of: impl Fn(u32) -> Ctr,
    ) {
        for (k, s) in stats {
            let d = delta(s, self.last_sys.get(k));
            if d.count > 0 {
                let c = ctr_of(k.tgid);
                self.touch(&c);
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

    pub fn absorb_copy_ups(&mut self, all: &[CopyUp]) {
        for c in all.iter().skip(self.copy_ups_seen) {
            let ctr = Ctr::of(c.container.as_ref());
            self.touch(&ctr);
            self.copy_up
                .entry(ctr.clone())
                .or_default()
                .observe(c.latency_ns);
            *self.copy_up_bytes.entry(ctr).or_default() += c.size;
        }
        self.copy_ups_seen = self.copy_ups_seen.max(all.len());
    }

    pub fn absorb_exdev(&mut self, containers: &[Option<Container>]) {
        for c in containers.iter().skip(self.exdev_seen) {
            let ctr = Ctr::of(c.as_ref());
            self.touch(&ctr);
            *self.exdev.entry(ctr).or_default() += 1;
        }
        self.exdev_seen = self.exdev_seen.max(containers.len());
    }

    /// Counts SIGPIPEs by outcome once the outcome is settled (the death window has passed).
    pub fn absorb_signals(&mut self, all: &[Signal], now: f64) {
        while let Some(s) = all.get(self.signals_seen) {
            if now - s.at <= DEATH_WINDOW_S + 1.0 {
                break;
            }
            let ctr = Ctr::of(s.container.as_ref());
            self.touch(&ctr);
            *self.sigpipe.entry((ctr, s.outcome())).or_default() += 1;
            self.signals_seen += 1;
        }
    }

    /// Drops every series of the containers touched longest ago beyond `max`; returns how many.
    pub fn cap_containers(&mut self, max: usize) -> u64 {
        let host = Ctr::host();
        let mut by_age: Vec<(u64, Ctr)> = self
            .touched
            .iter()
            .filter(|(c, _)| **c != host)
            .map(|(c, t)| (*t, c.clone()))
            .collect();
        if by_age.len() <= max {
            return 0;
        }
        by_age.sort();
        let evict: Vec<Ctr> = by_age[..by_age.len() - max]
            .iter()
            .map(|(_, c)| c.clone())
            .collect();
        for c in &evict {
            self.touched.remove(c);
            self.syscalls.retain(|(k, _), _| k != c);
            self.copy_up.remove(c);
            self.copy_up_bytes.remove(c);
            self.exdev.remove(c);
            self.sigpipe.retain(|(k, _), _| k != c);
        }
        evict.len() as u64
    }

    pub fn containers(&self) -> usize {
        self.touched.len()
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
        }
    }

    #[test]
    fn syscall_counters_grow_by_deltas_and_survive_forgetting() {
        let mut t = Totals::default();
        let k = SysKey { tgid: 7, nr: 39 }; // getpid: process
        let mut snap = HashMap::from([(k, stats(10, 6))]);
        t.absorb_syscalls(&snap, |_| ctr("web"));
        snap.insert(k, stats(25, 6));
        t.absorb_syscalls(&snap, |_| ctr("web"));
        let h = &t.syscalls[&(ctr("web"), "process")];
        assert_eq!((h.count, h.sum_ns, h.slots[6]), (25, 2500, 25));
        // The process is forgotten: the counter keeps its value.
        t.absorb_syscalls(&HashMap::new(), |_| ctr("web"));
        assert_eq!(t.syscalls[&(ctr("web"), "process")].count, 25);
        // Its pid comes back as a new process: everything it did is new.
        t.absorb_syscalls(&HashMap::from([(k, stats(3, 6))]), |_| ctr("web"));
        assert_eq!(t.syscalls[&(ctr("web"), "process")].count, 28);
    }

    #[test]
    fn sigpipes_are_counted_once_settled() {
        let mut t = Totals::default();
        let s = |at: f64, handler| Signal {
            at,
            handler,
            ..Default::default()
        };
        let all = vec![s(100.0, Some(1)), s(104.0, Some(0))];
        t.absorb_signals(&all, 102.0);
        assert_eq!(t.signals_seen, 0, "too fresh to know the outcome");
        t.absorb_signals(&all, 104.5);
        assert_eq!(t.signals_seen, 1);
        assert_eq!(t.sigpipe[&(Ctr::host(), "ignored")], 1);
    }

    #[test]
    fn the_container_cap_evicts_the_stalest_and_spares_the_host() {
        let mut t = Totals::default();
        for (tick, name) in ["a", "b", "c"].iter().enumerate() {
            t.tick = tick as u64;
            t.absorb_copy_ups(&[CopyUp {
                container: Some(Container {
                    id: name.repeat(64),
                    name: Some(name.to_string()),
                    runtime: "docker".into(),
                }),
                size: 10,
                ..Default::default()
            }]);
            t.copy_ups_seen = 0;
        }
        t.absorb_copy_ups(&[CopyUp::default()]);
        assert_eq!(t.cap_containers(2), 1);
        let names: Vec<&str> = t.copy_up.keys().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["b", "c", "host"]);
    }
}
