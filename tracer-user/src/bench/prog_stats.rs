//! `bench overhead`'s pass with kernel.bpf_stats_enabled on: each program's own run time.

use std::sync::atomic::AtomicBool;

use anyhow::Result;

use super::{
    cases::{Case, measure, setup},
    children::stopped,
    overhead_table::ProgRow,
};

/// Enables kernel.bpf_stats_enabled for the pass and restores it after.
struct StatsOn(Option<String>);

impl StatsOn {
    fn new() -> StatsOn {
        const PATH: &str = "/proc/sys/kernel/bpf_stats_enabled";
        let before = std::fs::read_to_string(PATH).ok();
        if let Err(e) = std::fs::write(PATH, "1") {
            log::warn!("bench: cannot enable bpf stats: {e}");
        }
        StatsOn(before)
    }
}

impl std::ops::Drop for StatsOn {
    fn drop(&mut self) {
        if let Some(b) = &self.0 {
            let _ = std::fs::write("/proc/sys/kernel/bpf_stats_enabled", b.trim());
        }
    }
}

/// Each case once more with bpf stats on (never during the timing rounds: stats add about
/// 20 ns a run): every program's own run time, without the dispatch around it.
pub(super) fn stats_pass(
    cases: &[Case],
    iterations: u64,
    stop: &AtomicBool,
) -> Result<Vec<ProgRow>> {
    let _on = StatsOn::new();
    let mut rows = Vec::new();
    for &case in cases
        .iter()
        .filter(|c| !matches!(c, Case::Bare | Case::Bpftrace))
    {
        if stopped(stop) {
            break;
        }
        let s = setup(case)?;
        let before = s.cost().unwrap_or_default();
        let run = measure(iterations);
        let after = s.cost().unwrap_or_default();
        s.stop()?;
        run?;
        for p in after.programs {
            let b = before.programs.iter().find(|q| q.id == p.id);
            let cnt = p.run_cnt - b.map_or(0, |b| b.run_cnt);
            let ns = p.run_time_ns - b.map_or(0, |b| b.run_time_ns);
            if cnt > 0 {
                rows.push(ProgRow {
                    case: case.label(),
                    program: p.name,
                    run_cnt: cnt,
                    run_time_ns: ns,
                    ns_per_run: ns as f64 / cnt as f64,
                });
            }
        }
    }
    Ok(rows)
}
