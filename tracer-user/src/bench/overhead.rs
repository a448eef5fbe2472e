//! `ctrace bench overhead`: the added cost per syscall of each probe setup on a getpgid loop in
//! a child process (ctrace never traces itself). Every case is measured once per round, the
//! rounds interleaved in shuffled order; medians per case, and the ratio of each case's added
//! cost to the floor's with a bootstrap 95% interval. A separate pass with bpf stats on gives
//! each program's own run time. The loop runs on the last CPU, ctrace's user space on the first.

use std::time::Instant;

use anyhow::{Result, bail};

use super::{
    cases::{Case, bpftrace_installed, measure, setup},
    children::{stop_flag, stopped},
    overhead_table::{Row, print_programs, print_table, print_targets},
    prog_stats::stats_pass,
    stats::{median, ratio_ci, shuffle},
    storm::exit_storm,
};
use crate::{
    cli::{LoopArgs, LoopSyscall},
    cpu_pin::{pin_self_to_first_cpu, pin_to_last_cpu, unpin_self},
    map_sizes, node, other_tracers,
};

/// The child side: repeat one cheap syscall and print ns per call.
pub fn syscall_loop(args: &LoopArgs) -> Result<()> {
    if args.wait_stdin {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
    }
    pin_to_last_cpu();
    let t = Instant::now();
    for _ in 0..args.iterations {
        match args.syscall {
            LoopSyscall::Getppid => unsafe { libc::syscall(libc::SYS_getppid) },
            LoopSyscall::Getpgid => unsafe { libc::syscall(libc::SYS_getpgid, 0) },
        };
    }
    let ns = t.elapsed().as_nanos() as f64 / args.iterations.max(1) as f64;
    println!("{ns:.2}");
    Ok(())
}

pub fn overhead(
    iterations: u64,
    rounds: usize,
    storm_secs: f64,
    docker: Option<&str>,
    json: bool,
) -> Result<()> {
    node::require_root()?;
    node::ensure_tracefs()?;
    node::bump_memlock()?;
    pin_self_to_first_cpu();
    let stop = stop_flag();
    let rounds = rounds.max(10);
    other_tracers::warn();
    let mut cases = vec![
        Case::Bare,
        Case::Floor,
        Case::FloorClassic,
        Case::Latency,
        Case::Count,
        Case::FilteredOut,
        Case::Trace,
        Case::Serve,
        Case::Sampled,
    ];
    if bpftrace_installed() {
        cases.push(Case::Bpftrace);
    }
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    crate::progress::enable();
    let bar = crate::progress::bar(
        rounds as u64,
        "bench overhead: rounds",
        &format!(
            "bench overhead: {rounds} rounds of {} cases, shuffled; a terminal shows the progress",
            cases.len()
        ),
    );
    let mut map_bytes = 0;
    for round in 0..rounds {
        let mut order: Vec<usize> = (0..cases.len()).collect();
        shuffle(&mut order, round as u64 + 1);
        for i in order {
            if stopped(&stop) {
                bail!("interrupted: every child stopped, every probe detached");
            }
            let s = setup(cases[i])?;
            if cases[i] == Case::Trace {
                map_bytes = map_bytes.max(s.cost().map_or(0, |c| c.map_bytes));
            }
            let ns = measure(iterations);
            s.stop()?;
            samples[i].push(ns?);
        }
        bar.inc(1);
    }
    let series = |c: Case| cases.iter().position(|&x| x == c).map(|i| &samples[i][..]);
    let (Some(bare), Some(floor_s)) = (series(Case::Bare), series(Case::Floor)) else {
        bail!("no bare or floor series");
    };
    let bpftrace = series(Case::Bpftrace);
    let twice_bare: Vec<f64> = bare.iter().map(|b| 2.0 * b).collect();
    let rows: Vec<Row> = cases
        .iter()
        .zip(&samples)
        .map(|(&c, v)| {
            let (r, lo, hi) = ratio_ci(v, bare, floor_s);
            let vb = bpftrace.map(|b| ratio_ci(v, bare, b));
            let (sb, sb_lo, sb_hi) = ratio_ci(v, bare, &twice_bare);
            Row {
                case: c.label(),
                median_ns: median(v),
                added_ns: median(&v.iter().zip(bare).map(|(x, b)| x - b).collect::<Vec<_>>()),
                vs_floor: r,
                vs_floor_ci95: (lo, hi),
                vs_bpftrace: vb.map(|x| x.0),
                vs_bpftrace_ci95: vb.map(|x| (x.1, x.2)),
                vs_bare: sb,
                vs_bare_ci95: (sb_lo, sb_hi),
                samples_ns: v.clone(),
            }
        })
        .collect();
    let progs = stats_pass(&cases, iterations, &stop)?;
    unpin_self();
    let storm = match storm_secs > 0.0 && !stopped(&stop) {
        true => Some(exit_storm(storm_secs)?),
        false => None,
    };
    let accuracy = match docker {
        Some(image) if !stopped(&stop) => Some(super::sampled::accuracy(image, 10)?),
        _ => None,
    };
    let formula = map_sizes::formula_all_problems(64, 4_194_304);
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "iterations": iterations, "rounds": rounds, "cases": rows,
                "programs": progs, "map_bytes": map_bytes,
                "map_bytes_formula_64cpu_4m_pids": formula, "exit_storm": storm,
                "seccomp_sampled_accuracy": accuracy
            }))?
        );
        return Ok(());
    }
    print_table(iterations, rounds, &rows);
    print_programs(&progs);
    print_targets(&rows, map_bytes, formula);
    if let Some(a) = &accuracy {
        super::sampled::print(a);
    }
    if let Some(s) = storm {
        println!(
            "\nexit storm ({} forkers, {:.1} s): {:.0} exits/s generated, {:.0}/s handled, {} dropped",
            s.forkers, s.seconds, s.generated_per_s, s.handled_per_s, s.dropped
        );
    }
    Ok(())
}
