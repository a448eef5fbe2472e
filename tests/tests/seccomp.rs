//! seccomp end to end on the real kernel: real probes, real syscalls, a real pid filter.

use std::{
    io::Write,
    process::{Command, Stdio},
    time::Duration,
};

use tests::{Tracer, ctrace_bin, root, syscall_count};

const CALLS: u64 = 20_000;

/// A getppid loop of `calls` in a child, run once a tracer started with `args` (where `{pid}`
/// stands for the child's pid) is attached; returns the child's pid and the report.
fn traced_loop(calls: u64, args: &[&str]) -> (u32, serde_json::Value) {
    // The child waits on stdin so that ctrace is attached before the first call.
    let mut child = Command::new(ctrace_bin())
        .args(["__loop", "getppid", &calls.to_string(), "--wait-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let args: Vec<String> = args
        .iter()
        .map(|a| a.replace("{pid}", &pid.to_string()))
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let tracer = Tracer::start(&args);
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    assert!(child.wait().unwrap().success());
    std::thread::sleep(Duration::from_millis(300));
    (pid, tracer.stop_json())
}

#[test]
fn counts_one_pids_getppid_calls_and_nothing_else() {
    if !root() {
        return;
    }
    let (pid, report) = traced_loop(
        CALLS,
        &[
            "trace", "seccomp", "--pid", "{pid}", "--json", "--top", "50",
        ],
    );

    let n = syscall_count(&report, pid, "getppid");
    assert!(
        (CALLS..=CALLS + CALLS / 100).contains(&n),
        "getppid count {n}, expected {CALLS} (+1%)"
    );
    let procs = report["seccomp"]["processes"].as_array().unwrap();
    let pids: Vec<u64> = procs.iter().map(|p| p["pid"].as_u64().unwrap()).collect();
    assert_eq!(
        pids,
        vec![u64::from(pid)],
        "only the filtered pid may appear"
    );
    assert_eq!(procs[0]["comm"], "ctrace");
    assert_eq!(
        report["events"]["seccomp"].as_u64().unwrap(),
        procs[0]["syscalls"].as_u64().unwrap()
    );
    assert_eq!(report["drops"]["seccomp"], 0);
    // Latency mode: a percentile and a histogram for getppid.
    let top = procs[0]["top"].as_array().unwrap();
    let getppid = top.iter().find(|s| s["syscall"] == "getppid").unwrap();
    assert!(getppid["p50_ns"].as_u64().unwrap() > 0);
    assert!(!getppid["hist_ns"].as_array().unwrap().is_empty());
    assert!(
        ["tp_btf", "raw_tp", "tracepoint"]
            .contains(&report["probes"][0]["attach_type"].as_str().unwrap())
    );
}

#[test]
fn count_only_mode_counts_the_same_calls() {
    if !root() {
        return;
    }
    let (pid, report) = traced_loop(
        CALLS,
        &[
            "trace",
            "seccomp",
            "--count-only",
            "--pid",
            "{pid}",
            "--json",
        ],
    );
    let n = syscall_count(&report, pid, "getppid");
    assert!((CALLS..=CALLS + CALLS / 100).contains(&n), "count {n}");
    assert_eq!(report["seccomp"]["mode"], "count");
    assert!(
        report["seccomp"]["processes"][0]["top"][0]
            .get("p50_ns")
            .is_none()
    );
}

#[test]
fn comm_filter_selects_by_name() {
    if !root() {
        return;
    }
    // ctrace ignores its own process, so only the child named "ctrace" can match.
    let (pid, report) = traced_loop(5000, &["trace", "seccomp", "--comm", "ctrace", "--json"]);
    assert!(syscall_count(&report, pid, "getppid") >= 5000);
    for p in report["seccomp"]["processes"].as_array().unwrap() {
        assert_eq!(
            p["comm"], "ctrace",
            "a process of another name was traced: {p}"
        );
        assert_eq!(p["other_ctrace"], true, "another ctrace is marked: {p}");
    }
}

#[test]
fn live_line_and_human_report() {
    if !root() {
        return;
    }
    let _tracefs = tests::tracefs_in_use();
    let out = Command::new(ctrace_bin())
        .args(["trace", "--duration", "2s", "--interval", "500ms"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.lines().filter(|l| l.contains("] seccomp:")).count() >= 2,
        "{stderr}"
    );
    assert!(stdout.contains("== seccomp (latency mode)"), "{stdout}");
    // By default every problem is traced.
    for section in ["== sem", "== zombie", "== sigpipe", "== overlay"] {
        assert!(stdout.contains(section), "no {section} section: {stdout}");
    }
    assert!(stdout.contains("distribution"), "no histogram: {stdout}");
    // In a pipe the report's lines are whole: nothing is cut to a terminal's width (output.rs
    // holds the terminal's case to 100 columns).
    for l in stdout.lines() {
        assert!(!l.ends_with('…'), "a line cut in a pipe: {l}");
    }
}

#[test]
fn duty_cycle_bounds_the_attached_time() {
    if !root() {
        return;
    }
    let args = [
        "trace",
        "seccomp",
        "--duration",
        "3s",
        "--interval",
        "500ms",
        "--duty-cycle",
        "40",
        "--json",
    ];
    let (code, out, err) = tests::run_ctrace(&args);
    assert_eq!(code, 0, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["duty_cycle_pct"], 40);
    let observed = report["seccomp"]["observed_s"].as_f64().unwrap();
    let duration = report["duration_s"].as_f64().unwrap();
    // 40% of 3 s, with a tick's slack per period.
    assert!(
        (0.9..=1.7).contains(&observed),
        "observed {observed} of {duration}"
    );
    assert!(report["events"]["seccomp"].as_u64().unwrap() > 0);
}

#[test]
fn verbose_shows_probe_side_logs() {
    if !root() {
        return;
    }
    let mut tracer = Tracer::start(&["-vvv", "trace", "seccomp", "--json"]);
    for _ in 0..3 {
        Command::new("true").status().unwrap();
    }
    tracer.wait_for("fork:", Duration::from_secs(10));
    tracer.stop_json();
}

#[test]
fn duty_cycle_never_pairs_calls_across_a_detached_period() {
    if !root() {
        return;
    }
    // A shell that spends its life in wait4() for 100 ms sleeps, traced two seconds of every
    // four: a wait4 entered before a detach must not be paired with a later wait4's exit (which
    // would make one "take" the 2 s off period or more, a bucket from 2^30 ns up). Under an
    // emulated CPU beside two other VMs a real wait4 for `sleep 0.1` took up to 0.54 to 1.07 s
    // (CI, 5.10), so the bar is 2^30 ns: between the two.
    let mut sh = Command::new("sh")
        .args(["-c", "while :; do sleep 0.1; done"])
        .spawn()
        .unwrap();
    let pid = sh.id().to_string();
    let (code, out, err) = tests::run_ctrace(&[
        "trace",
        "seccomp",
        "--pid",
        &pid,
        "--duty-cycle",
        "50",
        "--interval",
        "4s",
        "--duration",
        "9s",
        "--json",
        "--top",
        "50",
    ]);
    sh.kill().unwrap();
    sh.wait().unwrap();
    assert_eq!(code, 0, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let p = report["seccomp"]["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["pid"] == sh.id())
        .unwrap();
    let wait4 = p["top"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["syscall"] == "wait4")
        .unwrap();
    let slowest = wait4["hist_ns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["lo"].as_u64().unwrap())
        .max()
        .unwrap();
    assert!(
        slowest < 1 << 30,
        "a wait4 'took' {slowest} ns or more: {wait4}"
    );
}

/// Dead processes' figures move out of the kernel map each interval, so a small map holds the
/// living: 40 short-lived processes, about 25 (process, syscall) pairs each, through a map of
/// 256 pairs, with nothing dropped and every process counted. (Without the move, the map is
/// full after ten of them and the rest are dropped.)
#[test]
fn dead_processes_make_room_in_a_small_map() {
    if !root() {
        return;
    }
    let work = tests::Gated::new("for i in $(seq 40); do /bin/true; sleep 0.3; done");
    let tracer = work.tracer(&[
        "trace",
        "seccomp",
        "--max-syscall-keys",
        "256",
        "--interval",
        "200ms",
        "--json",
        "--top",
        "100",
    ]);
    work.run();
    std::thread::sleep(Duration::from_millis(500));
    let report = tracer.stop_json();
    assert_eq!(
        report["drops"]["seccomp"], 0,
        "{:#}",
        report["drop_reasons"]
    );
    // The shell, and 40 `true` and 40 `sleep` (named by whatever they were when first seen:
    // a child that dies before it is looked up keeps the name the kernel saw first, "sh").
    let procs = report["seccomp"]["processes"].as_array().unwrap().len();
    assert!(procs >= 81, "{procs} processes counted, 81 ran");
}
