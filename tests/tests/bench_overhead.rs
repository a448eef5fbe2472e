//! `ctrace bench overhead` on the real kernel: every case measured in every round, the kernel's
//! own run counts of the programs against the loop's known number of calls, and nothing left
//! behind, after a whole run or an interrupted one. "Left behind" follows the programs that the
//! bench and its children held (`TreeWatch`), so another tracer on the node can't fail it. No
//! figure is judged: timings belong to the benchmark, not to a test.

use std::{
    collections::BTreeSet,
    io::Read as _,
    process::{Command, Stdio},
    sync::Mutex,
    time::{Duration, Instant},
};

use serde_json::Value;
use tests::{
    bpf::{BPF_PROG_GET_NEXT_ID, TreeWatch, assert_ids_gone},
    ctrace_bin, root, tracefs_in_use,
};

/// One bench at a time: both pin their loops to the same CPUs.
static ONE_BENCH: Mutex<()> = Mutex::new(());

const ITERATIONS: u64 = 20_000;

/// Cases whose programs run on every syscall, the loop's included (`FilteredOut`'s too: it
/// fires, then filters the loop out).
const PER_SYSCALL: [&str; 5] = [
    "empty raw_tp enter/exit pair (floor)",
    "ctrace seccomp latency",
    "ctrace seccomp count-only",
    "seccomp latency, loop filtered out",
    "ctrace trace, all problems",
];

/// Every program the bench's tree held is gone from the kernel (and it held some).
fn nothing_left(held: &BTreeSet<u32>) {
    assert!(
        !held.is_empty(),
        "the bench and its children held no program"
    );
    assert_ids_gone(held, BPF_PROG_GET_NEXT_ID);
}

#[test]
fn every_case_every_round_and_the_kernel_ran_the_programs_on_every_call() {
    if !root() {
        return;
    }
    let _one = ONE_BENCH.lock().unwrap_or_else(|e| e.into_inner());
    let _tracefs = tracefs_in_use();
    let bench = Command::new(ctrace_bin())
        .args([
            "bench",
            "overhead",
            "--iterations",
            &ITERATIONS.to_string(),
            "--runs",
            "10",
            "--storm-secs",
            "1",
            "--json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let watch = TreeWatch::start(bench.id());
    let done = bench.wait_with_output().unwrap();
    let held = watch.finish();
    let (out, err) = (
        String::from_utf8_lossy(&done.stdout),
        String::from_utf8_lossy(&done.stderr),
    );
    assert!(done.status.success(), "bench overhead failed: {err}");
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let rows = doc["cases"].as_array().unwrap();
    let row = |label: &str| {
        rows.iter()
            .find(|r| r["case"] == label)
            .unwrap_or_else(|| panic!("no case {label:?} in {rows:#?}"))
    };
    for r in rows {
        assert_eq!(r["samples_ns"].as_array().unwrap().len(), 10, "{r:#}");
    }
    // The ratios are taken against these two: exact by construction.
    assert_eq!(row("bare (no probes)")["added_ns"], 0.0);
    let floor = &row("empty raw_tp enter/exit pair (floor)")["vs_floor"];
    assert!((floor.as_f64().unwrap() - 1.0).abs() < 1e-9, "{floor}");
    // The oracle: the loop made ITERATIONS getpgid calls, so a program on every syscall ran at
    // least that often in the stats pass.
    let programs = doc["programs"].as_array().unwrap();
    for case in PER_SYSCALL {
        let most = programs
            .iter()
            .filter(|p| p["case"] == case)
            .filter_map(|p| p["run_cnt"].as_u64())
            .max();
        assert!(
            most.is_some_and(|n| n >= ITERATIONS),
            "{case}: the busiest program ran {most:?} times for {ITERATIONS} calls: {programs:#?}"
        );
    }
    assert!(doc["map_bytes"].as_u64().unwrap() > 0, "{doc:#}");
    let storm = &doc["exit_storm"];
    assert!(storm["exits_generated"].as_u64().unwrap() > 0, "{storm:#}");
    assert!(storm["exits_seen"].as_u64().unwrap() > 0, "{storm:#}");
    nothing_left(&held);
}

/// The processes whose parent is `pid`, with their names.
fn children_of(pid: u32) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
            continue;
        };
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        let ppid = stat[close + 1..].split_whitespace().nth(1);
        if ppid.and_then(|p| p.parse().ok()) == Some(pid) {
            let name = stat[stat.find('(').unwrap() + 1..close].to_string();
            out.push((child, name));
        }
    }
    out
}

#[test]
fn an_interrupted_bench_stops_its_children_and_detaches() {
    if !root() {
        return;
    }
    let _one = ONE_BENCH.lock().unwrap_or_else(|e| e.into_inner());
    let _tracefs = tracefs_in_use();
    let mut bench = Command::new(ctrace_bin())
        .args([
            "bench",
            "overhead",
            "--iterations",
            "2000000",
            "--storm-secs",
            "0",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = bench.id();
    let watch = TreeWatch::start(pid);
    // Until a case runs a tracer of its own beside the loop (`trace`, `serve` or bpftrace).
    let deadline = Instant::now() + Duration::from_secs(120);
    let children = loop {
        let c = children_of(pid);
        if c.len() >= 2 {
            break c;
        }
        assert!(
            Instant::now() < deadline && bench.try_wait().unwrap().is_none(),
            "no case with a tracer child: {c:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    unsafe { libc::kill(pid as i32, libc::SIGINT) };
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = bench.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "bench still running after SIGINT"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut err = String::new();
    bench
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(!status.success(), "{status}: {err}");
    assert!(err.contains("interrupted"), "{err}");
    for (child, name) in &children {
        // A zombie counts as gone: it runs nothing, and its reaping is init's business.
        let running = || {
            std::fs::read_to_string(format!("/proc/{child}/stat")).is_ok_and(|st| {
                st.find(&format!("({name})"))
                    .is_some_and(|i| !st[i + name.len() + 2..].trim_start().starts_with('Z'))
            })
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while running() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(!running(), "{name} ({child}) outlived the bench: {err}");
    }
    nothing_left(&watch.finish());
}
