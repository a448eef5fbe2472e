//! The trace loop's side of the live view: each interval, the problems' live parts and (paced
//! by its cost) a snapshot of the report, for the findings and seccomp's processes.

use std::time::{Duration, Instant};

use anyhow::Result;

use super::Session;
use crate::{
    live::{Model, Tracker},
    shared::Seen,
};

/// A snapshot may take at most this share of the time between two (1/4): a costlier one is
/// taken less often than every interval, so that the loop keeps draining the ring buffers.
const COST_SHARE: u32 = 4;

#[derive(Default)]
pub struct Feed {
    tracker: Tracker,
    next_snapshot: Option<Instant>,
    /// Every snapshot's findings: the final report keeps those resolved meanwhile.
    pub seen: Seen,
}

impl Feed {
    /// This interval's model. Runs between ticks: a snapshot drains what it reads.
    pub fn model(&mut self, session: &mut Session, top: usize) -> Result<Model> {
        let now = Instant::now();
        let snap = self.next_snapshot.is_none_or(|t| now >= t);
        // The snapshot reads the inventories itself.
        session.refresh(!snap)?;
        let mut problems = session.live_parts();
        // ctrace's own cost to the kernel, as one more line.
        problems.push(("bpf", session.kernel_cost()));
        let report = if snap {
            let report = session.snapshot(top)?;
            let cost = now.elapsed();
            if cost > Duration::from_millis(100) {
                log::debug!("live view: a snapshot took {cost:?}");
            }
            self.next_snapshot = Some(now + cost * COST_SHARE);
            let at = now.duration_since(session.started).as_secs_f64();
            self.seen.observe(&report.findings, at);
            Some(report)
        } else {
            None
        };
        let elapsed = session.started.elapsed().as_secs_f64();
        Ok(self.tracker.model(elapsed, problems, report.as_ref()))
    }
}
