//! A filter's calibration: getppid timed with and without the process's own filters, measured
//! once per distinct filter and cached.

use std::{
    collections::HashMap,
    hash::{DefaultHasher, Hash as _, Hasher as _},
};

use anyhow::Result;

use super::{bench::measure, estimate::Calibration, filter, workload::Workload};
use crate::{node, progress};

const CALIBRATION_CALLS: u64 = 200_000;
const CALIBRATION_RUNS: usize = 5;
/// Calibrations keyed by a hash of the filters' bytes.
#[derive(Default)]
pub struct Calibrator {
    by_filter: HashMap<u64, Calibration>,
    /// (pid, start time, filter count) -> filter hash: reading a filter stops the process
    /// (ptrace), so a long-lived agent reads each process's filters once.
    by_process: HashMap<(u32, u64, u32), u64>,
}

/// Field 22 of /proc/PID/stat: tells a process from a later one with the same pid.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(19)?
        .parse()
        .ok()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Median ns per getppid without and with `filters`, the runs interleaved so that the load of
/// the moment (the traced containers still run) weighs on both alike.
pub fn paired_ns(pid: u32, filters: &[Vec<u8>]) -> Result<(f64, f64)> {
    let bar = progress::bar(
        2 * CALIBRATION_RUNS as u64,
        &format!("calibrating pid {pid}'s seccomp filter"),
        &format!(
            "calibrating pid {pid}'s seccomp filter: {CALIBRATION_RUNS} rounds of {CALIBRATION_CALLS} getppid with and without it"
        ),
    );
    let (mut base, mut filtered) = (Vec::new(), Vec::new());
    for _ in 0..CALIBRATION_RUNS {
        base.push(
            measure(Workload::Getppid, CALIBRATION_CALLS, &[])?
                .0
                .ns_per_op,
        );
        bar.inc(1);
        filtered.push(
            measure(Workload::Getppid, CALIBRATION_CALLS, filters)?
                .0
                .ns_per_op,
        );
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok((median(base), median(filtered)))
}

impl Calibrator {
    /// Forgets the figures measured so far (with the probes attached, for serve or the live
    /// view): once detached, each filter is measured again on a node without probes.
    pub fn forget_measured(&mut self) {
        self.by_filter.clear();
    }

    /// The per-syscall cost of `pid`'s filters: getppid under them against no filter. Must run
    /// with ctrace's syscall probes detached, or both would pay the tracepoint slow path.
    pub fn calibrate(&mut self, pid: u32) -> Result<Calibration> {
        let count = node::proc_status_field(pid, "Seccomp_filters")
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let process = start_time(pid).map(|t| (pid, t, count));
        if let Some(c) = process
            .and_then(|p| self.by_process.get(&p))
            .and_then(|k| self.by_filter.get(k))
        {
            return Ok(*c);
        }
        let filters = filter::filters_of(pid)?;
        let mut h = DefaultHasher::new();
        filters.hash(&mut h);
        let key = h.finish();
        if let Some(p) = process {
            if self.by_process.len() >= 4096 {
                self.by_process.retain(|(pid, ..), _| node::alive(*pid));
            }
            self.by_process.insert(p, key);
        }
        if let Some(c) = self.by_filter.get(&key) {
            return Ok(*c);
        }
        let (base, filtered) = paired_ns(pid, &filters)?;
        let c = Calibration {
            ns_per_syscall: (filtered - base).max(0.0),
            instructions: filters.iter().map(|f| f.len() / filter::INSN).sum(),
            filters: filters.len(),
        };
        self.by_filter.insert(key, c);
        Ok(c)
    }
}
