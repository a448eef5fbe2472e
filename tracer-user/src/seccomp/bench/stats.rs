//! The benchmark's loss per syscall from medians and hdr percentiles, with its spread: a mean
//! over an operation's timings is dominated by the odd multi-ms preemption, a median is not.

use std::fmt;

use crate::seccomp::workload::Timing;

/// A median with the smallest and largest value it was taken from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl fmt::Display for Spread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.1} [{:.1}, {:.1}]", self.median, self.min, self.max)
    }
}

/// The middle value (the upper one of an even count); 0 for none.
pub fn median(v: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = v.collect();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

pub fn median_u64(v: impl Iterator<Item = u64>) -> u64 {
    median(v.map(|x| x as f64)) as u64
}

/// Round i of `under` against round i of `none` (they ran back to back, so drift hits both):
/// the p50 difference per syscall, its median and range over the rounds.
pub fn lost_per_syscall(none: &[Timing], under: &[Timing], syscalls_per_op: f64) -> Spread {
    let diffs: Vec<f64> = none
        .iter()
        .zip(under)
        .map(|(n, u)| (u.p50_ns as f64 - n.p50_ns as f64) / syscalls_per_op)
        .collect();
    if diffs.is_empty() {
        return Spread {
            median: 0.0,
            min: 0.0,
            max: 0.0,
        };
    }
    Spread {
        median: median(diffs.iter().copied()),
        min: diffs.iter().copied().fold(f64::INFINITY, f64::min),
        max: diffs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(p50: u64, mean: f64) -> Timing {
        Timing {
            ns_per_op: mean,
            p50_ns: p50,
            p99_ns: p50 * 2,
            max_ns: 4_000_000,
        }
    }

    #[test]
    fn outliers_do_not_move_the_loss() {
        // One round's mean blown up by a 4 ms preemption: the loss follows the p50s.
        let none = [t(200, 210.0), t(202, 5000.0), t(199, 209.0)];
        let under = [t(240, 250.0), t(238, 249.0), t(245, 251.0)];
        let s = lost_per_syscall(&none, &under, 1.0);
        assert_eq!(s.median, 40.0);
        assert_eq!((s.min, s.max), (36.0, 46.0));
        assert_eq!(s.to_string(), "40.0 [36.0, 46.0]");
        // Two syscalls per operation halve it; an unfiltered twin is about zero.
        assert_eq!(lost_per_syscall(&none, &under, 2.0).median, 20.0);
        assert_eq!(lost_per_syscall(&none, &none, 1.0).median, 0.0);
    }
}
