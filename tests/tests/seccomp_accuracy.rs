//! The seccomp cost users act on, against the on/off truth. Two twins run the same getppid
//! loop on one CPU, one under a filter and one with none; each times itself with its own
//! thread CPU clock. The truth over ctrace's window is the difference of their ns per call
//! times the filtered twin's call rate. `trace seccomp --sampled`'s median error over the
//! rounds is printed against the 10% target (met or MISSED) and held within `BOUND`; the
//! unfiltered twin must show no cost and no finding.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use serde_json::Value;
use tests::{ctrace_bin, node_lock, root, tracefs_in_use};

const ROUNDS: usize = 7;
const WINDOW_S: u64 = 4;
/// The target: the median error over the rounds, printed as met or MISSED. It is not what the
/// test asserts: the rounds spread by about ±10% around a steady truth (the slow path's own
/// sample counts vary between rounds more than their count explains, not yet understood), and
/// the residual's calibration moves every figure by a few percent, so a 10% bound would fail
/// some runs by chance. Medians this session: 3 to 11% (argument checks), 0.4 to 7% (two
/// filters), 4 to 19% (allow-all, which the action cache skips).
const TARGET: f64 = 0.10;
/// What the test asserts: far inside the classifier's old error (a third low, every run), so
/// a real regression fails while the run-to-run spread does not.
const BOUND: f64 = 0.25;

/// Running totals a twin printed, with when they were read.
#[derive(Clone, Copy)]
struct Totals {
    at: Instant,
    calls: f64,
    cpu_ns: f64,
    wall_ns: f64,
}

struct Twin {
    child: Child,
    lines: Arc<Mutex<Vec<Totals>>>,
}

impl Twin {
    fn start(filter: &str, cpu: usize) -> Twin {
        // Long enough for a first run's calibration too; killed when dropped.
        let secs = (WINDOW_S + 60).to_string();
        let mut child = Command::new(env!("CARGO_BIN_EXE_seccomp-twin"))
            .args([filter, &cpu.to_string(), &secs])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start seccomp-twin");
        let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
        assert_eq!(out.next().unwrap().unwrap(), "ready", "{filter} twin");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let keep = lines.clone();
        std::thread::spawn(move || {
            for l in out.map_while(Result::ok) {
                let v: Value = serde_json::from_str(&l).unwrap();
                let f = |k: &str| v[k].as_f64().unwrap();
                keep.lock().unwrap().push(Totals {
                    at: Instant::now(),
                    calls: f("calls"),
                    cpu_ns: f("cpu_ns"),
                    wall_ns: f("wall_ns"),
                });
            }
        });
        Twin { child, lines }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// (calls, own CPU ns, wall ns) between the last totals read by `from` and by `to`.
    fn between(&self, from: Instant, to: Instant) -> (f64, f64, f64) {
        let lines = self.lines.lock().unwrap();
        let last = |t: Instant| {
            *lines
                .iter()
                .rev()
                .find(|l| l.at <= t)
                .expect("no totals yet")
        };
        let (a, b) = (last(from), last(to));
        (
            b.calls - a.calls,
            b.cpu_ns - a.cpu_ns,
            b.wall_ns - a.wall_ns,
        )
    }
}

impl Drop for Twin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn last_cpu() -> usize {
    std::thread::available_parallelism().map_or(0, |n| n.get() - 1)
}

/// Runs ctrace with `args`: its report, and when it said it had attached (the sampler's
/// window starts there).
fn traced_window(args: &[&str]) -> (Value, Instant) {
    let _tracefs = tracefs_in_use();
    let mut child = Command::new(ctrace_bin())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run ctrace");
    let err = BufReader::new(child.stderr.take().unwrap());
    let attached = std::thread::spawn(move || {
        let mut at = None;
        let mut text = String::new();
        for l in err.lines().map_while(Result::ok) {
            if at.is_none() && l.starts_with("ctrace: attached") {
                at = Some(Instant::now());
            }
            text += &l;
            text.push('\n');
        }
        (at, text)
    });
    let out = child.wait_with_output().unwrap();
    let (at, err) = attached.join().unwrap();
    assert!(out.status.success(), "{err}");
    let report = serde_json::from_slice(&out.stdout).unwrap();
    (
        report,
        at.unwrap_or_else(|| panic!("no `attached` line: {err}")),
    )
}

/// One round: (truth, ctrace's figure) in ms of CPU per second, and the report.
fn round(filter: &str) -> (f64, f64, Value, u32, u32) {
    let cpu = last_cpu();
    let filtered = Twin::start(filter, cpu);
    let open = Twin::start("none", cpu);
    let (f, u) = (filtered.pid().to_string(), open.pid().to_string());
    let window = format!("{WINDOW_S}s");
    let (report, start) = traced_window(&[
        "trace",
        "seccomp",
        "--sampled",
        "--pid",
        &f,
        "--pid",
        &u,
        "--duration",
        &window,
        "--json",
    ]);
    let secs = report["seccomp"]["sampled"]["seconds"].as_f64().unwrap();
    let end = start + Duration::from_secs_f64(secs);
    let (calls_f, cpu_f, wall_f) = filtered.between(start, end);
    let (calls_u, cpu_u, _) = open.between(start, end);
    let ns_lost = cpu_f / calls_f - cpu_u / calls_u;
    let truth = ns_lost * calls_f / (wall_f / 1e9) / 1e6;
    let rows = report["seccomp"]["sampled"]["containers"]
        .as_array()
        .unwrap();
    let row = rows
        .iter()
        .find(|r| r["pid"] == filtered.pid())
        .unwrap_or_else(|| panic!("no row of its own for the filtered twin: {report:#}"));
    let est = row["seccomp"]["ms_per_s"].as_f64().unwrap();
    println!(
        "{filter}: {:.1} vs {:.1} ns/call, truth {truth:.1} ms/s, ctrace {est:.1} ms/s \
         ({:+.1}%), samples {}",
        cpu_f / calls_f,
        cpu_u / calls_u,
        (est / truth - 1.0) * 100.0,
        row["samples"]
    );
    (truth, est, report, filtered.pid(), open.pid())
}

/// The unfiltered twin: no seccomp sample, no finding; the filtered one: its finding.
fn check_controls(report: &Value, filtered: u32, open: u32) {
    for r in report["seccomp"]["sampled"]["containers"]
        .as_array()
        .unwrap()
    {
        if r["pid"] != filtered {
            assert_eq!(r["samples"]["filter"], 0, "{r}");
            assert_eq!(r["samples"]["slow_path"], 0, "{r}");
            assert_eq!(r["seccomp"]["ms_per_s"], 0.0, "{r}");
        }
    }
    let slow: Vec<&Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "seccomp_slowdown")
        .collect();
    assert!(
        slow.iter().any(|f| f["subject"]["pid"] == filtered),
        "no finding for the filtered twin: {report:#}"
    );
    assert!(
        !slow.iter().any(|f| f["subject"]["pid"] == open),
        "the unfiltered twin was flagged: {report:#}"
    );
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn within_tolerance(filter: &str) {
    if !root() {
        return;
    }
    // One oracle at a time on the node: twins of two tests on one CPU would be four loops.
    let _cpu = node_lock("seccomp-twins");
    let mut errors = Vec::new();
    for _ in 0..ROUNDS {
        let (truth, est, report, f, u) = round(filter);
        check_controls(&report, f, u);
        errors.push(est / truth - 1.0);
    }
    let m = median(errors.iter().map(|e| e.abs()).collect());
    let rounds: Vec<String> = errors
        .iter()
        .map(|e| format!("{:+.1}%", e * 100.0))
        .collect();
    println!(
        "{filter}: median error {:.1}% over {ROUNDS} rounds {rounds:?}; target {:.0}%: {}",
        m * 100.0,
        TARGET * 100.0,
        if m <= TARGET { "met" } else { "MISSED" }
    );
    assert!(
        m <= BOUND,
        "{filter}: median error {:.1}%, beyond {:.0}% (rounds: {rounds:?})",
        m * 100.0,
        BOUND * 100.0
    );
}

#[test]
fn a_filter_the_action_cache_skips_is_measured_against_its_twin() {
    within_tolerance("allow");
}

#[test]
fn a_filter_that_runs_on_every_call_is_measured_against_its_twin() {
    within_tolerance("args");
}

#[test]
fn two_stacked_filters_are_measured_against_their_twin() {
    within_tolerance("stacked");
}
