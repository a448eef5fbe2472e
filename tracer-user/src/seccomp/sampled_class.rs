//! Sampled cost, the pure part: which kernel stacks are seccomp's (by /proc/kallsyms), and what
//! a count of cpu-clock samples says about the time lost, with its interval.

use serde::Serialize;
use tracer_common::seccomp::{WORK_OTHERS, WORK_SECCOMP};

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

/// The kernel's text symbols, sorted by address.
#[derive(Default)]
pub struct Kallsyms {
    syms: Vec<(u64, String)>,
}

impl Kallsyms {
    pub fn read() -> anyhow::Result<Kallsyms> {
        let text = std::fs::read_to_string("/proc/kallsyms")
            .map_err(|e| anyhow::anyhow!("reading /proc/kallsyms: {e}"))?;
        let k = Kallsyms::parse(&text);
        if k.syms.is_empty() {
            anyhow::bail!("/proc/kallsyms shows no addresses (kernel.kptr_restrict?)");
        }
        Ok(k)
    }

    /// Text symbols only (t, T); addresses all zero (hidden from this user) are dropped.
    pub fn parse(text: &str) -> Kallsyms {
        let mut syms: Vec<(u64, String)> = text
            .lines()
            .filter_map(|l| {
                let mut f = l.split_whitespace();
                let addr = u64::from_str_radix(f.next()?, 16).ok()?;
                let kind = f.next()?;
                let name = f.next()?;
                (addr != 0 && matches!(kind, "t" | "T")).then(|| (addr, name.to_string()))
            })
            .collect();
        syms.sort_unstable();
        Kallsyms { syms }
    }

    /// The function `ip` falls in, without the compiler's suffix (`.isra.0`, `.cold`).
    pub fn name(&self, ip: u64) -> Option<&str> {
        let i = self.syms.partition_point(|(a, _)| *a <= ip);
        let name = &self.syms.get(i.checked_sub(1)?)?.1;
        Some(name.split('.').next().unwrap_or(name))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Class {
    /// The filter itself: seccomp's functions and the JIT'd program they run.
    Filter,
    /// The slow syscall path outside the filter.
    SlowPath,
    /// Anything else, user mode included.
    Other,
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
    /// Slow path of tasks whose only reason for it was seccomp: seccomp's cost.
    pub slow_path: u64,
    /// Slow path of tasks that took it for other reasons too (a syscall tracepoint, ptrace,
    /// audit): not blamed on seccomp.
    pub slow_path_shared: u64,
}

impl Counts {
    pub fn add(&mut self, class: Class, work: u32, n: u64) {
        self.total += n;
        match class {
            Class::Filter => self.filter += n,
            Class::SlowPath if work & WORK_OTHERS == 0 && work & WORK_SECCOMP != 0 => {
                self.slow_path += n
            }
            Class::SlowPath => self.slow_path_shared += n,
            Class::Other => {}
        }
    }

    pub fn merge(&mut self, o: &Counts) {
        self.total += o.total;
        self.filter += o.filter;
        self.slow_path += o.slow_path;
        self.slow_path_shared += o.slow_path_shared;
    }

    pub fn seccomp(&self) -> u64 {
        self.filter + self.slow_path
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

#[cfg(test)]
mod tests {
    use super::*;

    const SYMS: &str = "\
0000000000000000 T hidden
ffffffff81424190 T syscall_trace_enter
ffffffff81424400 T do_syscall_64
ffffffff8148a360 t populate_seccomp_data
ffffffff8148aab0 t __seccomp_filter
ffffffff8148bc80 T __secure_computing
ffffffff8148bd00 t seccomp_check_filter.isra.0
ffffffff8148be00 D some_data
";

    #[test]
    fn stacks_are_told_apart_by_their_frames() {
        let k = Kallsyms::parse(SYMS);
        assert_eq!(k.name(0xffffffff8148a370), Some("populate_seccomp_data"));
        assert_eq!(k.name(0xffffffff8148bd10), Some("seccomp_check_filter"));
        assert_eq!(k.name(0x10), None);
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
}
