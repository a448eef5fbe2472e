//! sem in `ctrace serve`: gauges of each IPC namespace's sets against SEMMNI.

use super::analyzer::SemReport;
use crate::shared::{
    metric::{Family, Labels, ctr_labels},
    series::Ctr,
};

pub fn families(r: &SemReport) -> Vec<Family> {
    let rows = |f: &dyn Fn(&super::analyzer::NsReport) -> Option<u64>| -> Vec<(Labels, u64)> {
        r.namespaces
            .iter()
            .filter_map(|n| {
                let c = Ctr::of_ids(&n.container_id, &n.container_name, &n.origin);
                Some((ctr_labels(&c, &[]), f(n)?))
            })
            .collect()
    };
    vec![
        Family::gauge(
            "ctrace_sem_sets",
            "System V semaphore sets in the IPC namespace.",
            rows(&|n| Some(n.sets as u64)),
        ),
        Family::gauge(
            "ctrace_sem_cookie_sets",
            "Sets with a udev-cookie key (0xd4d prefix).",
            rows(&|n| Some(n.cookies as u64)),
        ),
        Family::gauge(
            "ctrace_sem_leaked_sets",
            "Sets whose creator is gone and that nobody used since.",
            rows(&|n| Some(n.leaked as u64)),
        ),
        Family::gauge(
            "ctrace_sem_sets_limit",
            "SEMMNI: the most sets the IPC namespace allows.",
            rows(&|n| n.limits.as_ref().map(|l| l.semmni)),
        ),
    ]
}
