//! How often records are streamed as findings at once: a token bucket. A few rounds may follow
//! each other (a process's birth, then its death a few ms later, each go out at once), while a
//! busy node's stream costs at most ten rounds a second.

use std::time::{Duration, Instant};

/// Rounds a second, in the long run.
const RATE: f64 = 10.0;
/// Rounds that may follow each other without a wait.
const BURST: f64 = 3.0;

pub struct QuickBudget {
    tokens: f64,
    at: Instant,
}

impl QuickBudget {
    pub fn new(now: Instant) -> QuickBudget {
        QuickBudget {
            tokens: BURST,
            at: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let secs = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + secs * RATE).min(BURST);
        self.at = now;
    }

    /// When the next round may run: now, or when a token has grown back.
    pub fn ready_at(&mut self, now: Instant) -> Instant {
        self.refill(now);
        if self.tokens >= 1.0 {
            now
        } else {
            now + Duration::from_secs_f64((1.0 - self.tokens) / RATE)
        }
    }

    /// A round ran.
    pub fn take(&mut self, now: Instant) {
        self.refill(now);
        self.tokens = (self.tokens - 1.0).max(0.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_goes_at_once_then_ten_a_second() {
        let t0 = Instant::now();
        let mut b = QuickBudget::new(t0);
        for _ in 0..3 {
            assert_eq!(b.ready_at(t0), t0);
            b.take(t0);
        }
        let next = b.ready_at(t0);
        assert_eq!(next - t0, Duration::from_millis(100));
        // A busy stream: one round per token, ten a second.
        let mut at = next;
        let mut rounds = 0;
        while at < t0 + Duration::from_secs(2) {
            b.take(at);
            rounds += 1;
            at = b.ready_at(at);
        }
        assert!((19..=21).contains(&rounds), "{rounds}");
    }

    #[test]
    fn a_quiet_spell_refills_the_burst() {
        let t0 = Instant::now();
        let mut b = QuickBudget::new(t0);
        for _ in 0..3 {
            b.take(t0);
        }
        let later = t0 + Duration::from_millis(400);
        for _ in 0..3 {
            assert_eq!(b.ready_at(later), later);
            b.take(later);
        }
    }
}
