//! Sampled cost, the pure part: which kernel stacks are seccomp's (by /proc/kallsyms), and what
//! a count of cpu-clock samples says about the time lost, with its interval.

use serde::Serialize;
use tracer_common::seccomp::{WORK_OTHERS, WORK_SECCOMP};

pub use super::kallsyms::Kallsyms;

/// Functions of the seccomp path at syscall entry. A JIT'd classic filter has no symbol; its
/// samples are seccomp's because `__seccomp_filter` is their caller, further up the stack.
const FILTER_FNS: &[&str] = &[
    "__secure_computing",
    "__seccomp_filter",
    "populate_seccomp_data",
    "seccomp_run_filters",
    "seccomp_cache_check_allow",
    "seccomp_log",
    "seccomp_send_sigsys",
    "seccomp_do_user_notification",
];
/// The slow syscall path, taken for every reason in `syscall_work` (seccomp among them).
const SLOW_FNS: &[&str] = &["syscall_trace_enter"];

/// How far past a return address a sample of the return lands (the instruction after it,
/// where a mispredicted return is paid for).
const LANDING_BYTES: u64 = 16;
/// Return addresses kept: the syscall entry calls the slow path from one or two places.
const LANDINGS_KEPT: usize = 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Class {
    /// The filter itself: seccomp's functions and the JIT'd program they run.
    Filter,
    /// The first instructions of a JIT'd filter, before its frame exists: the stack unwinds
    /// to nothing, but the sampler saw `__seccomp_filter`'s return address at the stack
    /// pointer. The mispredicted jump into the filter is paid for here.
    FilterEntry,
    /// The slow syscall path outside the filter.
    SlowPath,
    /// The syscall entry just after the slow path returned to it: the cost of that return
    /// (a mispredicted return thunk under some mitigations) lands outside the slow path's
    /// frames.
    ReturnLanding,
    /// Anything else, user mode included.
    Other,
}

/// Where the slow path returns into the syscall entry: learned from the sampled stacks
/// themselves (the caller frame of their outermost slow-path function), so no kernel's
/// offsets are written down here.
#[derive(Default, Debug)]
pub struct Landings(Vec<u64>);

impl Landings {
    pub fn learn(&mut self, frames: &[u64], syms: &Kallsyms) {
        let seccomp_or_slow = |ip: &u64| {
            syms.name(*ip)
                .is_some_and(|n| FILTER_FNS.contains(&n) || SLOW_FNS.contains(&n))
        };
        let Some(outer) = frames.iter().rposition(seccomp_or_slow) else {
            return;
        };
        if let Some(&ret) = frames.get(outer + 1)
            && !self.0.contains(&ret)
            && self.0.len() < LANDINGS_KEPT
        {
            self.0.push(ret);
        }
    }

    fn holds(&self, ip: u64) -> bool {
        self.0
            .iter()
            .any(|r| (*r..*r + LANDING_BYTES).contains(&ip))
    }
}

/// A sample's class: its stack's, refined by what the stack alone cannot show (the filter's
/// entry, the return into the syscall entry). `in_filter`: the sampler's flag.
pub fn class_of_sample(
    frames: &[u64],
    in_filter: bool,
    syms: &Kallsyms,
    landings: &Landings,
) -> Class {
    let unnamed_leaf = frames.len() <= 1 || syms.name(frames[0]).is_none();
    match classify(frames, syms) {
        Class::Other if in_filter && unnamed_leaf => Class::FilterEntry,
        Class::Other if frames.first().is_some_and(|ip| landings.holds(*ip)) => {
            Class::ReturnLanding
        }
        c => c,
    }
}

/// A kernel stack, innermost frame first.
pub fn classify(frames: &[u64], syms: &Kallsyms) -> Class {
    let names: Vec<&str> = frames.iter().filter_map(|ip| syms.name(*ip)).collect();
    if names.iter().any(|n| FILTER_FNS.contains(n)) {
        Class::Filter
    } else if names.iter().any(|n| SLOW_FNS.contains(n)) {
        Class::SlowPath
    } else {
        Class::Other
    }
}

/// Samples of one process (or container), by class.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Counts {
    pub total: u64,
    pub filter: u64,
    /// The entry into a JIT'd filter (`Class::FilterEntry`).
    pub filter_entry: u64,
    /// Slow path of tasks whose only reason for it was seccomp: seccomp's cost.
    pub slow_path: u64,
    /// The slow path's return into the syscall entry (`Class::ReturnLanding`), of those
    /// tasks.
    pub return_landing: u64,
    /// Slow path of tasks that took it for other reasons too (a syscall tracepoint, ptrace,
    /// audit): not blamed on seccomp.
    pub slow_path_shared: u64,
}

impl Counts {
    pub fn add(&mut self, class: Class, work: u32, n: u64) {
        self.total += n;
        let seccomp_alone = work & WORK_OTHERS == 0 && work & WORK_SECCOMP != 0;
        match class {
            Class::Filter => self.filter += n,
            Class::FilterEntry => self.filter_entry += n,
            Class::SlowPath if seccomp_alone => self.slow_path += n,
            Class::ReturnLanding if seccomp_alone => self.return_landing += n,
            Class::SlowPath | Class::ReturnLanding => self.slow_path_shared += n,
            Class::Other => {}
        }
    }

    pub fn merge(&mut self, o: &Counts) {
        self.total += o.total;
        self.filter += o.filter;
        self.filter_entry += o.filter_entry;
        self.slow_path += o.slow_path;
        self.return_landing += o.return_landing;
        self.slow_path_shared += o.slow_path_shared;
    }

    /// The filter's samples, its entry included.
    pub fn filter_all(&self) -> u64 {
        self.filter + self.filter_entry
    }

    /// The slow path's samples that are seccomp's, its return included.
    pub fn slow_path_all(&self) -> u64 {
        self.slow_path + self.return_landing
    }

    pub fn seccomp(&self) -> u64 {
        self.filter_all() + self.slow_path_all()
    }
}

/// Milliseconds of CPU per second that `n` samples of `period_ns` each stand for over
/// `secs`, with a 95% interval (the count is Poisson; none seen still allows about 3).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Rate {
    pub ms_per_s: f64,
    pub low: f64,
    pub high: f64,
}

pub fn rate(n: u64, period_ns: u64, secs: f64) -> Rate {
    let per = period_ns as f64 / 1e6 / secs.max(1e-9);
    let x = n as f64;
    let (lo, hi) = if n == 0 {
        (0.0, 3.0)
    } else {
        let half = 1.96 * x.sqrt();
        ((x - half).max(0.0), x + half)
    };
    Rate {
        ms_per_s: x * per,
        low: lo * per,
        high: hi * per,
    }
}

/// The seccomp figure with the calibrated residual, `k` = (median, low, high) samples more
/// per slow-path sample: (the whole figure, its interval widened by the calibration's spread;
/// the residual alone).
pub fn rate_with_residual(
    seccomp: u64,
    slow: u64,
    k: (f64, f64, f64),
    period_ns: u64,
    secs: f64,
) -> (Rate, Rate) {
    let per = period_ns as f64 / 1e6 / secs.max(1e-9);
    let n = |k: f64| (seccomp as f64 + k * slow as f64).max(0.0);
    let (mid, lo, hi) = (n(k.0), n(k.1), n(k.2));
    let whole = Rate {
        ms_per_s: mid * per,
        low: (lo - 1.96 * lo.sqrt()).max(0.0) * per,
        high: if hi == 0.0 {
            3.0
        } else {
            hi + 1.96 * hi.sqrt()
        } * per,
    };
    let s = slow as f64 * per;
    let residual = Rate {
        ms_per_s: k.0 * s,
        low: k.1 * s,
        high: k.2 * s,
    };
    (whole, residual)
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::super::kallsyms::TEST_SYMS as SYMS;

    #[test]
    fn stacks_are_told_apart_by_their_frames() {
        let k = Kallsyms::parse(SYMS);
        // A JIT'd filter (unknown ip) called from __seccomp_filter, inside the slow path.
        let jit = [
            0xffffffffc0001234,
            0xffffffff8148aac0,
            0xffffffff8148bc90,
            0xffffffff814241a0,
        ];
        assert_eq!(classify(&jit, &k), Class::Filter);
        let slow = [0xffffffff814241a0, 0xffffffff81424410];
        assert_eq!(classify(&slow, &k), Class::SlowPath);
        assert_eq!(classify(&[0xffffffff81424410], &k), Class::Other);
        assert_eq!(classify(&[], &k), Class::Other);
    }

    #[test]
    fn slow_path_is_blamed_on_seccomp_only_when_it_is_the_only_reason() {
        let mut c = Counts::default();
        c.add(Class::SlowPath, WORK_SECCOMP, 3);
        // A syscall tracepoint (bit 1) is attached: every task takes the slow path.
        c.add(Class::SlowPath, WORK_SECCOMP | 0b10, 5);
        c.add(Class::Filter, WORK_SECCOMP | 0b10, 7);
        c.add(Class::Other, 0, 11);
        assert_eq!(
            (c.total, c.filter, c.slow_path, c.slow_path_shared),
            (26, 7, 3, 5)
        );
        assert_eq!(c.seccomp(), 10);
        c.add(Class::ReturnLanding, WORK_SECCOMP, 2);
        c.add(Class::ReturnLanding, WORK_SECCOMP | 0b10, 4);
        c.add(Class::FilterEntry, WORK_SECCOMP, 1);
        assert_eq!(
            (c.return_landing, c.slow_path_shared, c.filter_entry),
            (2, 9, 1)
        );
        assert_eq!(c.seccomp(), 13);
    }

    #[test]
    fn the_filters_entry_and_the_return_into_the_syscall_entry_are_seccomps() {
        let k = Kallsyms::parse(SYMS);
        let mut landings = Landings::default();
        // A filtered call's stack: the filter, the slow path, then the syscall entry at the
        // return address 0xffffffff81424520.
        let stack = [
            0xffffffff8148aac0,
            0xffffffff8148bc90,
            0xffffffff814241a0,
            0xffffffff81424520,
            0xffffffff81000100,
        ];
        landings.learn(&stack, &k);
        assert_eq!(landings.0, vec![0xffffffff81424520]);
        // Learned once.
        landings.learn(&stack, &k);
        assert_eq!(landings.0.len(), 1);
        let landed = [0xffffffff81424523, 0xffffffff81000100];
        assert_eq!(
            class_of_sample(&landed, false, &k, &landings),
            Class::ReturnLanding
        );
        // Elsewhere in do_syscall_64: not the return.
        let elsewhere = [0xffffffff81424410, 0xffffffff81000100];
        assert_eq!(
            class_of_sample(&elsewhere, false, &k, &landings),
            Class::Other
        );
        // A JIT'd filter's first instruction: one unnamed frame, flagged by the sampler.
        let jit = [0xffffffffc0001000];
        assert_eq!(
            class_of_sample(&jit, true, &k, &landings),
            Class::FilterEntry
        );
        assert_eq!(class_of_sample(&jit, false, &k, &landings), Class::Other);
        // A named leaf with the flag (a callee of the filter) keeps its stack's class.
        assert_eq!(class_of_sample(&stack, true, &k, &landings), Class::Filter);
    }

    #[test]
    fn rate_has_a_poisson_interval() {
        // 100 samples of 1 ms over 10 s: 10 ms/s, about ±2 ms/s.
        let r = rate(100, 1_000_000, 10.0);
        assert!((r.ms_per_s - 10.0).abs() < 1e-9);
        assert!((r.low - 8.04).abs() < 0.01 && (r.high - 11.96).abs() < 0.01);
        let z = rate(0, 1_000_000, 10.0);
        assert_eq!((z.ms_per_s, z.low), (0.0, 0.0));
        assert!(z.high > 0.0);
    }

    #[test]
    fn the_residual_adds_per_slow_path_sample_and_widens_the_interval() {
        // 100 seccomp samples of which 40 slow path, k = 0.5 (0.4 to 0.6): 120 samples.
        let (whole, residual) = rate_with_residual(100, 40, (0.5, 0.4, 0.6), 1_000_000, 1.0);
        assert!((whole.ms_per_s - 120.0).abs() < 1e-9);
        assert!((residual.ms_per_s - 20.0).abs() < 1e-9);
        assert!((residual.low - 16.0).abs() < 1e-9 && (residual.high - 24.0).abs() < 1e-9);
        let plain = rate(120, 1_000_000, 1.0);
        assert!(whole.low < plain.low && whole.high > plain.high);
    }
}
