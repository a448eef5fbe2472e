//! sigpipe in `ctrace serve`: SIGPIPE counters by container and outcome, grown from the
//! kernel's exact per-process totals, and the cap on kept records.

use std::collections::{BTreeMap, HashMap};

use aya::Ebpf;

use super::{kernel::Totals, run::SigpipeRun};
use crate::{
    attrib::Container,
    shared::{
        Evictions,
        metric::{Family, ctr_labels},
        series::{Ctr, Touched},
    },
};

#[derive(Default)]
pub struct Serve {
    sigpipe: BTreeMap<(Ctr, &'static str), u64>,
    /// The totals last counted, per process.
    seen: BTreeMap<u32, Totals>,
}

/// The outcomes counted, each monotonic in the kernel's totals (a SIGPIPE still pending is
/// counted once it is delivered, or at the death).
fn outcomes(t: &Totals) -> [(&'static str, u64); 6] {
    [
        ("fatal", t.deaths),
        ("handled", t.delivered_handler),
        ("ignored", t.ignored + t.delivered_ignore),
        ("blocked", t.blocked),
        ("already_pending", t.already_pending),
        ("default", t.delivered_default),
    ]
}

impl Serve {
    /// Grows the counters by what the kernel's totals gained since the last interval.
    pub fn absorb_totals(
        &mut self,
        totals: &BTreeMap<u32, Totals>,
        containers: &HashMap<u32, Option<Container>>,
        touched: &mut Touched,
    ) {
        for (tgid, t) in totals {
            let prev = self
                .seen
                .get(tgid)
                // Fewer than last time: the pid was forgotten and reused.
                .filter(|p| p.generated <= t.generated)
                .cloned()
                .unwrap_or_default();
            let ctr = Ctr::of(containers.get(tgid).and_then(Option::as_ref));
            for ((label, now), (_, before)) in outcomes(t).into_iter().zip(outcomes(&prev)) {
                let grew = now.saturating_sub(before);
                if grew > 0 {
                    touched.touch(&ctr);
                    *self.sigpipe.entry((ctr.clone(), label)).or_default() += grew;
                }
            }
        }
        self.seen = totals.clone();
    }

    /// Old records, and processes gone (in the kernel too).
    pub fn bound(
        &mut self,
        run: &mut SigpipeRun,
        ebpf: &mut Ebpf,
        keep: usize,
        evicted: &mut Evictions,
    ) {
        let all = run.analyzer().signals.len();
        let n = run.trim(ebpf, keep, all);
        *evicted.entry("sigpipe_record").or_default() += n as u64;
    }

    pub fn forget_containers(&mut self, gone: &[Ctr]) {
        self.sigpipe.retain(|(k, _), _| !gone.contains(k));
    }

    pub fn families(&self) -> Vec<Family> {
        vec![Family::counter(
            "ctrace_sigpipe",
            "SIGPIPE signals by outcome (fatal, handled, ignored, blocked, already_pending, \
             default), from the kernel's exact totals.",
            self.sigpipe
                .iter()
                .map(|((c, o), n)| (ctr_labels(c, &[("outcome", o)]), *n))
                .collect(),
        )]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_grow_by_what_the_totals_gained() {
        let mut t = Serve::default();
        let mut touched = Touched::default();
        let none = HashMap::new();
        let at = |handled, deaths| {
            BTreeMap::from([(
                7,
                Totals {
                    generated: handled + deaths,
                    delivered_handler: handled,
                    deaths,
                    ..Default::default()
                },
            )])
        };
        t.absorb_totals(&at(5, 0), &none, &mut touched);
        t.absorb_totals(&at(8, 1), &none, &mut touched);
        assert_eq!(t.sigpipe[&(Ctr::host(), "handled")], 8);
        assert_eq!(t.sigpipe[&(Ctr::host(), "fatal")], 1);
        // The pid forgotten and reused: counted from zero again, never backwards.
        t.absorb_totals(&at(2, 0), &none, &mut touched);
        assert_eq!(t.sigpipe[&(Ctr::host(), "handled")], 10);
    }
}
