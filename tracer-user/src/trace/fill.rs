//! The session's report from its problems' parts: sections, events, findings and drops.

use std::collections::BTreeMap;

use tracer_common::Drop;

use crate::{
    report::Report,
    shared::{Entry, Part, ProblemRun},
};

/// Each problem's part into the report: its section and events keyed by its name, its findings
/// in registry order and then those that need every part (`settle`: with `detached`, on a node
/// without probes), then the drops.
pub(super) fn fill(
    report: &mut Report,
    runs: &mut [(&'static Entry, Box<dyn ProblemRun>)],
    parts: Vec<Part>,
    drops: &BTreeMap<Drop, u64>,
    detached: bool,
) {
    let mut later = Vec::new();
    for ((e, r), mut part) in runs.iter_mut().zip(parts) {
        later.extend(r.settle(&mut part, detached));
        report.events.insert(e.name().into(), part.events);
        report.findings.extend(part.findings);
        report
            .drops
            .insert(e.name().into(), dropped(drops, e.drops));
        report.sections.push((e.name(), part.section));
    }
    report.findings.extend(later);
    report.drop_reasons = drops
        .iter()
        .map(|(d, n)| (d.name().to_string(), *n))
        .collect();
    // "filter" (forks the pid filter could not take, cgroup births attribution could not
    // queue) only when it happened.
    let n = dropped(drops, &[Drop::FilterMapFull, Drop::CgroupQueueFull]);
    if n > 0 {
        report.drops.insert("filter".into(), n);
    }
}

/// The drops of these reasons.
pub(super) fn dropped(drops: &BTreeMap<Drop, u64>, reasons: &[Drop]) -> u64 {
    reasons.iter().filter_map(|d| drops.get(d)).sum()
}
