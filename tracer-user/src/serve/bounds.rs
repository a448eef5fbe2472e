//! The agent's bounded state: caps on processes, containers and kept records, with the oldest
//! evicted first and every eviction counted. Dead processes are forgotten (not evictions):
//! their figures were folded into the counters first. Each problem bounds its own state.

use crate::{
    shared::{Caps, Evictions, series::Touched},
    trace::Session,
};

#[derive(Default)]
pub struct Bounds {
    pub evictions: Evictions,
}

impl Bounds {
    /// Run after every problem has absorbed this interval's figures.
    pub fn enforce(&mut self, s: &mut Session, touched: &mut Touched, caps: Caps) {
        let tick = touched.tick;
        let evictions = &mut self.evictions;
        s.each_run(|run, ebpf| run.bound(ebpf, caps, tick, evictions));
        s.attrib.forget_dead();
        let gone = touched.evict_stalest(caps.containers);
        *self.evictions.entry("container").or_default() += gone.len() as u64;
        s.each_run(|run, _| run.forget_containers(&gone));
    }

    /// What is held now, by kind, for the `ctrace_tracked` gauge.
    pub fn tracked(s: &Session, touched: &Touched) -> Vec<(&'static str, u64)> {
        let mut v = vec![("container", touched.containers() as u64)];
        for (_, run) in s.runs() {
            v.extend(run.tracked());
        }
        v
    }
}
