//! log2 histograms: merging per-CPU copies, percentiles and bcc-style bar rendering.

use std::fmt::Write as _;

use serde::Serialize;
use tracer_common::seccomp::HIST_SLOTS;

/// Counts per log2 bucket: slot k holds values in [2^k, 2^(k+1)), slot 0 also holds 0.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Log2Hist {
    pub slots: [u64; HIST_SLOTS],
}

/// One non-empty bucket, as the JSON report shows it.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    pub lo: u64,
    pub hi: u64,
    pub count: u64,
}

pub fn slot_bounds(slot: usize) -> (u64, u64) {
    if slot == 0 {
        (0, 1)
    } else {
        (1u64 << slot, (1u64 << (slot + 1)) - 1)
    }
}

impl Log2Hist {
    pub fn add(&mut self, other: &[u64; HIST_SLOTS]) {
        for (a, b) in self.slots.iter_mut().zip(other) {
            *a += b;
        }
    }

    pub fn count(&self) -> u64 {
        self.slots.iter().sum()
    }

    /// The value below which `p` (0..=1) of the samples fall, interpolated linearly inside
    /// the bucket; exact to within the bucket's factor of two.
    pub fn percentile(&self, p: f64) -> u64 {
        let total = self.count();
        if total == 0 {
            return 0;
        }
        let rank = (p.clamp(0.0, 1.0) * total as f64).ceil().max(1.0);
        let mut seen = 0u64;
        for (slot, &n) in self.slots.iter().enumerate() {
            if n == 0 {
                continue;
            }
            if (seen + n) as f64 >= rank {
                let (lo, hi) = slot_bounds(slot);
                let frac = (rank - seen as f64) / n as f64;
                return lo + ((hi - lo) as f64 * frac).round() as u64;
            }
            seen += n;
        }
        slot_bounds(HIST_SLOTS - 1).1
    }

    /// The histogram back from its non-empty buckets (as the JSON report holds it).
    pub fn from_buckets(buckets: &[Bucket]) -> Log2Hist {
        let mut h = Log2Hist::default();
        for b in buckets {
            h.slots[tracer_common::seccomp::log2_slot(b.lo.max(1))] += b.count;
        }
        h
    }

    pub fn buckets(&self) -> Vec<Bucket> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(slot, &count)| {
                let (lo, hi) = slot_bounds(slot);
                Bucket { lo, hi, count }
            })
            .collect()
    }

    /// bcc-style rendering: one line per bucket from the first to the last non-empty one.
    pub fn render(&self, unit: &str) -> String {
        const WIDTH: u64 = 40;
        let mut out = String::new();
        let Some(first) = self.slots.iter().position(|&n| n > 0) else {
            return out;
        };
        let last = self.slots.iter().rposition(|&n| n > 0).unwrap_or(first);
        let max = self.slots.iter().copied().max().unwrap_or(1).max(1);
        let _ = writeln!(out, "{:>24} : {:<10} distribution", unit, "count");
        for slot in first..=last {
            let (lo, hi) = slot_bounds(slot);
            let n = self.slots[slot];
            let stars = (n * WIDTH).div_ceil(max) as usize;
            let _ = writeln!(
                out,
                "{:>10} -> {:<10} : {:<10} |{:<40}|",
                lo,
                hi,
                n,
                "*".repeat(stars.min(WIDTH as usize))
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracer_common::seccomp::log2_slot;

    fn hist_of(values: &[u64]) -> Log2Hist {
        let mut h = Log2Hist::default();
        for &v in values {
            h.slots[log2_slot(v)] += 1;
        }
        h
    }

    #[test]
    fn slots_match_bounds() {
        for v in [0u64, 1, 2, 3, 4, 7, 8, 1000, 1 << 20, (1 << 21) - 1] {
            let (lo, hi) = slot_bounds(log2_slot(v));
            assert!(lo <= v && v <= hi, "{v} not in [{lo}, {hi}]");
        }
        assert_eq!(log2_slot(u64::MAX), HIST_SLOTS - 1);
    }

    #[test]
    fn percentiles_fall_in_the_right_bucket() {
        // 90 fast (~100 ns) and 10 slow (~10 us) samples.
        let mut values = vec![100u64; 90];
        values.extend([10_000u64; 10]);
        let h = hist_of(&values);
        assert_eq!(h.count(), 100);
        let p50 = h.percentile(0.5);
        assert!((64..=127).contains(&p50), "p50 {p50}");
        let p99 = h.percentile(0.99);
        assert!((8192..=16383).contains(&p99), "p99 {p99}");
        assert_eq!(Log2Hist::default().percentile(0.5), 0);
    }

    #[test]
    fn merge_and_buckets() {
        let mut a = hist_of(&[5, 5, 300]);
        let b = hist_of(&[5, 1 << 12]);
        a.add(&b.slots);
        assert_eq!(a.count(), 5);
        let buckets = a.buckets();
        assert_eq!(
            buckets[0],
            Bucket {
                lo: 4,
                hi: 7,
                count: 3
            }
        );
        assert_eq!(buckets.len(), 3);
        assert_eq!(Log2Hist::from_buckets(&buckets), a);
    }

    #[test]
    fn render_draws_scaled_bars() {
        let h = hist_of(&[5, 5, 5, 5, 300]);
        let text = h.render("nsecs");
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].contains("nsecs") && lines[0].contains("distribution"));
        // 4..7 is the fullest bucket: a full bar of 40 stars.
        assert!(
            lines[1].contains(&format!("|{}|", "*".repeat(40))),
            "{text}"
        );
        // Empty buckets between first and last are still drawn.
        assert_eq!(lines.len(), 1 + (log2_slot(300) - log2_slot(5) + 1));
        assert!(lines.last().unwrap().contains("|**********"));
    }
}
