//! sigpipe in `ctrace serve`: SIGPIPE counters by container and outcome, and the cap on kept
//! signals.

use std::collections::BTreeMap;

use aya::Ebpf;

use super::{
    analyzer::{DEATH_WINDOW_S, Signal},
    run::SigpipeRun,
};
use crate::shared::{
    Evictions,
    metric::{Family, ctr_labels},
    series::{Ctr, Touched},
};

#[derive(Default)]
pub struct Serve {
    sigpipe: BTreeMap<(Ctr, &'static str), u64>,
    /// Leading signals already counted (the trimmer keeps this in step).
    signals_seen: usize,
}

impl Serve {
    /// Counts SIGPIPEs by outcome once the outcome is settled (the death window has passed).
    pub fn absorb_signals(&mut self, all: &[Signal], now: f64, touched: &mut Touched) {
        while let Some(s) = all.get(self.signals_seen) {
            if now - s.at <= DEATH_WINDOW_S + 1.0 {
                break;
            }
            let ctr = Ctr::of(s.container.as_ref());
            touched.touch(&ctr);
            *self.sigpipe.entry((ctr, s.outcome())).or_default() += 1;
            self.signals_seen += 1;
        }
    }

    /// Old signals, and processes gone (in the kernel too); never a signal not yet counted.
    pub fn bound(
        &mut self,
        run: &mut SigpipeRun,
        ebpf: &mut Ebpf,
        keep: usize,
        evicted: &mut Evictions,
    ) {
        let n = run.trim(ebpf, keep, self.signals_seen);
        self.signals_seen -= n;
        *evicted.entry("sigpipe_record").or_default() += n as u64;
    }

    pub fn forget_containers(&mut self, gone: &[Ctr]) {
        self.sigpipe.retain(|(k, _), _| !gone.contains(k));
    }

    pub fn families(&self) -> Vec<Family> {
        vec![Family::counter(
            "ctrace_sigpipe",
            "SIGPIPE signals by outcome (fatal, default, handled, ignored, pending).",
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
    fn sigpipes_are_counted_once_settled() {
        let mut t = Serve::default();
        let mut touched = Touched::default();
        let s = |at: f64, handler| Signal {
            at,
            handler,
            ..Default::default()
        };
        let all = vec![s(100.0, Some(1)), s(104.0, Some(0))];
        t.absorb_signals(&all, 102.0, &mut touched);
        assert_eq!(t.signals_seen, 0, "too fresh to know the outcome");
        t.absorb_signals(&all, 104.5, &mut touched);
        assert_eq!(t.signals_seen, 1);
        assert_eq!(t.sigpipe[&(Ctr::host(), "ignored")], 1);
    }
}
