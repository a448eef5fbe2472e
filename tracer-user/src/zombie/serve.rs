//! zombie in `ctrace serve`: unreaped zombies by container and parent, and the exits seen.

use std::collections::BTreeMap;

use super::analyzer::ZombieReport;
use crate::shared::{
    metric::{Family, ctr_labels},
    series::Ctr,
};

pub fn families(r: &ZombieReport) -> Vec<Family> {
    let mut z: BTreeMap<(Ctr, String), u64> = BTreeMap::new();
    for g in &r.groups {
        let c = Ctr::of_ids(&g.container_id, &g.container_name, &g.origin);
        *z.entry((c, g.parent_comm.clone())).or_default() += g.zombies as u64;
    }
    vec![
        Family::gauge(
            "ctrace_zombies",
            "Unreaped zombies, by container and the parent that must reap them.",
            z.iter()
                .map(|((c, parent), n)| (ctr_labels(c, &[("parent_comm", parent)]), *n))
                .collect(),
        ),
        Family::counter(
            "ctrace_process_exits",
            "Process exits seen.",
            vec![(vec![], r.exits)],
        ),
    ]
}
