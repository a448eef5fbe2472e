//! serve's series: the container labels, cumulative histograms, and when each container's
//! series last grew (the container cap evicts the stalest).

use std::collections::BTreeMap;

use tracer_common::seccomp::{HIST_SLOTS, log2_slot};

use crate::attrib::{Container, Origin};

/// The container labels of a series; ("host", "") outside containers. The runtime and the
/// Kubernetes names follow from the id, so they add labels but no series.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ctr {
    pub name: String,
    pub id: String,
    pub origin: Origin,
}

impl Ctr {
    pub fn host() -> Ctr {
        Ctr {
            name: "host".into(),
            id: String::new(),
            origin: Origin::default(),
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
                    origin: Origin::of(Some(c)),
                }
            }
        }
    }

    /// From a report's `container_id`, `container_name` and origin fields.
    pub fn of_ids(id: &Option<String>, name: &Option<String>, origin: &Origin) -> Ctr {
        match id {
            None => Ctr::host(),
            Some(id) => Ctr {
                id: id.chars().take(12).collect(),
                name: name
                    .clone()
                    .unwrap_or_else(|| id.chars().take(12).collect()),
                origin: origin.clone(),
            },
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
    pub fn observe(&mut self, ns: u64) {
        self.count += 1;
        self.sum_ns += ns;
        self.slots[log2_slot(ns)] += 1;
    }
}

/// The interval in which each container's series last grew.
#[derive(Default)]
pub struct Touched {
    pub tick: u64,
    at: BTreeMap<Ctr, u64>,
}

impl Touched {
    pub fn touch(&mut self, c: &Ctr) {
        self.at.insert(c.clone(), self.tick);
    }

    /// The containers touched longest ago beyond `max` (never the host), now forgotten here.
    pub fn evict_stalest(&mut self, max: usize) -> Vec<Ctr> {
        let host = Ctr::host();
        let mut by_age: Vec<(u64, Ctr)> = self
            .at
            .iter()
            .filter(|(c, _)| **c != host)
            .map(|(c, t)| (*t, c.clone()))
            .collect();
        if by_age.len() <= max {
            return Vec::new();
        }
        by_age.sort();
        let evict: Vec<Ctr> = by_age[..by_age.len() - max]
            .iter()
            .map(|(_, c)| c.clone())
            .collect();
        for c in &evict {
            self.at.remove(c);
        }
        evict
    }

    pub fn containers(&self) -> usize {
        self.at.len()
    }
}
