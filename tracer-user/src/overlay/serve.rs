//! overlay in `ctrace serve`: copy-up and EXDEV counters that only grow, by container, and the
//! cap on kept records.

use std::collections::BTreeMap;

use super::{analyzer::CopyUp, run::OverlayRun};
use crate::{
    attrib::Container,
    shared::{
        Evictions,
        metric::{Family, ctr_labels},
        series::{Ctr, Hist, Touched},
    },
};

#[derive(Default)]
pub struct Serve {
    copy_up: BTreeMap<Ctr, Hist>,
    copy_up_bytes: BTreeMap<Ctr, u64>,
    exdev: BTreeMap<Ctr, u64>,
    /// Leading records of each analyzer list already counted (the trimmer keeps these in step).
    copy_ups_seen: usize,
    exdev_seen: usize,
}

impl Serve {
    pub fn absorb(&mut self, run: &OverlayRun, touched: &mut Touched) {
        let a = run.analyzer();
        self.absorb_copy_ups(&a.copy_ups, touched);
        let c: Vec<_> = a.exdev.iter().map(|e| e.container.clone()).collect();
        self.absorb_exdev(&c, touched);
    }

    fn absorb_copy_ups(&mut self, all: &[CopyUp], touched: &mut Touched) {
        for c in all.iter().skip(self.copy_ups_seen) {
            let ctr = Ctr::of(c.container.as_ref());
            touched.touch(&ctr);
            self.copy_up
                .entry(ctr.clone())
                .or_default()
                .observe(c.latency_ns);
            *self.copy_up_bytes.entry(ctr).or_default() += c.size;
        }
        self.copy_ups_seen = self.copy_ups_seen.max(all.len());
    }

    fn absorb_exdev(&mut self, containers: &[Option<Container>], touched: &mut Touched) {
        for c in containers.iter().skip(self.exdev_seen) {
            let ctr = Ctr::of(c.as_ref());
            touched.touch(&ctr);
            *self.exdev.entry(ctr).or_default() += 1;
        }
        self.exdev_seen = self.exdev_seen.max(containers.len());
    }

    /// Keeps the newest records, never one not yet counted.
    pub fn bound(&mut self, run: &mut OverlayRun, keep: usize, evicted: &mut Evictions) {
        let (c, e) = run.trim(keep, (self.copy_ups_seen, self.exdev_seen));
        self.copy_ups_seen -= c;
        self.exdev_seen -= e;
        *evicted.entry("copy_up_record").or_default() += c as u64;
        *evicted.entry("exdev_record").or_default() += e as u64;
    }

    pub fn forget_containers(&mut self, gone: &[Ctr]) {
        for c in gone {
            self.copy_up.remove(c);
            self.copy_up_bytes.remove(c);
            self.exdev.remove(c);
        }
    }

    pub fn families(&self) -> Vec<Family> {
        vec![
            Family::histogram(
                "ctrace_overlay_copy_up_latency",
                "Latency of the syscalls that copied a lower-layer file up.",
                self.copy_up
                    .iter()
                    .map(|(c, h)| (ctr_labels(c, &[]), h.clone()))
                    .collect(),
            ),
            Family::counter(
                "ctrace_overlay_copy_up_bytes",
                "Bytes copied up from lower layers.",
                self.copy_up_bytes
                    .iter()
                    .map(|(c, n)| (ctr_labels(c, &[]), *n))
                    .collect(),
            ),
            Family::counter(
                "ctrace_overlay_exdev_renames",
                "Renames of lower-layer directories that failed with EXDEV.",
                self.exdev
                    .iter()
                    .map(|(c, n)| (ctr_labels(c, &[]), *n))
                    .collect(),
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_container_cap_evicts_the_stalest_and_spares_the_host() {
        let mut t = Serve::default();
        let mut touched = Touched::default();
        for (tick, name) in ["a", "b", "c"].iter().enumerate() {
            touched.tick = tick as u64;
            let one = CopyUp {
                container: Some(Container {
                    id: name.repeat(64),
                    name: Some(name.to_string()),
                    runtime: "docker".into(),
                    k8s: Default::default(),
                }),
                size: 10,
                ..Default::default()
            };
            t.absorb_copy_ups(&[one], &mut touched);
            t.copy_ups_seen = 0;
        }
        t.absorb_copy_ups(&[CopyUp::default()], &mut touched);
        let gone = touched.evict_stalest(2);
        assert_eq!(gone.len(), 1);
        t.forget_containers(&gone);
        let names: Vec<&str> = t.copy_up.keys().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["b", "c", "host"]);
    }
}
