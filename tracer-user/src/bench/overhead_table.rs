//! `bench overhead`'s rows and the table, program bodies and targets it prints from them.

use serde::Serialize;

use super::cases::Case;
use crate::{bpf_cost, node};

#[derive(Serialize)]
pub(super) struct Row {
    pub(super) case: &'static str,
    pub(super) median_ns: f64,
    pub(super) added_ns: f64,
    pub(super) vs_floor: f64,
    pub(super) vs_floor_ci95: (f64, f64),
    pub(super) vs_bpftrace: Option<f64>,
    pub(super) vs_bpftrace_ci95: Option<(f64, f64)>,
    /// Added time as a share of the bare loop (what the sampled mode is judged by).
    pub(super) vs_bare: f64,
    pub(super) vs_bare_ci95: (f64, f64),
    pub(super) samples_ns: Vec<f64>,
}

#[derive(Serialize)]
pub(super) struct ProgRow {
    pub(super) case: &'static str,
    pub(super) program: String,
    pub(super) run_cnt: u64,
    pub(super) run_time_ns: u64,
    pub(super) ns_per_run: f64,
}

pub(super) fn print_table(iterations: u64, rounds: usize, rows: &[Row]) {
    println!(
        "getpgid loop, {iterations} calls per measurement, {rounds} interleaved rounds (medians), kernel {}",
        node::kernel_release()
    );
    println!(
        "{:<52} {:>8} {:>8} {:>22} {:>22}",
        "case", "ns/call", "added", "/floor [95% CI]", "/bpftrace [95% CI]"
    );
    let ci = |p: f64, (lo, hi): (f64, f64)| format!("{p:.2}x [{lo:.2}-{hi:.2}]");
    for r in rows {
        println!(
            "{:<52} {:>8.1} {:>8.1} {:>22} {:>22}",
            r.case,
            r.median_ns,
            r.added_ns,
            ci(r.vs_floor, r.vs_floor_ci95),
            r.vs_bpftrace
                .zip(r.vs_bpftrace_ci95)
                .map_or("-".into(), |(p, c)| ci(p, c)),
        );
    }
}

pub(super) fn print_programs(progs: &[ProgRow]) {
    println!("\nprogram bodies (kernel.bpf_stats_enabled, a separate pass):");
    println!(
        "{:<52} {:<16} {:>12} {:>10}",
        "case", "program", "runs", "ns/run"
    );
    for p in progs {
        println!(
            "{:<52} {:<16} {:>12} {:>10.1}",
            p.case, p.program, p.run_cnt, p.ns_per_run
        );
    }
}

pub(super) fn print_targets(rows: &[Row], map_bytes: u64, formula: u64) {
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    let row = |label: &str| rows.iter().find(|r| r.case == label);
    println!("\ntargets:");
    for c in [Case::Trace, Case::Serve] {
        let Some(r) = row(c.label()) else { continue };
        let hi = r.vs_floor_ci95.1;
        println!(
            "  {}: <= 1.3x floor (upper end): {hi:.2}x -> {}",
            r.case,
            verdict(hi <= 1.3)
        );
        match r.vs_bpftrace {
            Some(v) => println!(
                "  {}: <= 0.35x bpftrace: {v:.2}x -> {}",
                r.case,
                verdict(v <= 0.35)
            ),
            None => println!("  {}: <= 0.35x bpftrace: bpftrace not installed", r.case),
        }
    }
    if let Some(r) = row(Case::Latency.label()) {
        let hi = r.vs_floor_ci95.1;
        println!(
            "  seccomp latency alone <= 1.6x floor (upper end): {hi:.2}x -> {}",
            verdict(hi <= 1.6)
        );
    }
    if let Some(r) = row(Case::Sampled.label()) {
        let (lo, hi) = r.vs_bare_ci95;
        println!(
            "  seccomp sampled <= 3% added to bare (upper end): {:.1}% [{:.1}%-{:.1}%] -> {}",
            r.vs_bare * 100.0,
            lo * 100.0,
            hi * 100.0,
            verdict(hi <= 0.03)
        );
    }
    println!(
        "  map memory, every problem, this node <= 16 MiB: {} -> {}",
        bpf_cost::mib(map_bytes),
        verdict(map_bytes <= 16 << 20)
    );
    println!(
        "  map memory by formula, 64 CPUs, pid_max 4194304 <= 64 MiB: {} -> {}",
        bpf_cost::mib(formula),
        verdict(formula <= 64 << 20)
    );
}
