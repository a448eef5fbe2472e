//! sigpipe facts taken in the kernel: a blocked SIGPIPE is not fatal (the thread's mask, the
//! exit code), and the totals of a storm are exact against bpftrace's own count.

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader, Write},
    process::{Command, Stdio},
    time::Duration,
};

use serde_json::Value;
use tests::{Gated, Tracer, root};

const HELPER: &str = env!("CARGO_BIN_EXE_sigpipe-helper");

fn findings(report: &Value, pid: u32) -> Vec<&Value> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "sigpipe_delivered" && f["subject"]["pid"] == pid)
        .collect()
}

fn totals(report: &Value, pid: u32) -> Value {
    report["sigpipe"]["by_process"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["pid"] == pid)
        .cloned()
        .unwrap_or_else(|| panic!("no totals for pid {pid}: {:#}", report["sigpipe"]))
}

/// SIGPIPE blocked, default action: each write to the broken pipe (its stderr) fails with EPIPE,
/// the signal stays pending, and the process exits 0. Not fatal; the log is being lost.
#[test]
fn blocked_sigpipe_is_not_fatal() {
    if !root() {
        return;
    }
    let tracer = Tracer::start(&["trace", "sigpipe", "--json", "--interval", "500ms"]);
    let mut child = Command::new(HELPER)
        .args(["pipe", "block"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut stdin = child.stdin.take().unwrap();
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready");
    stdin.write_all(b"go\n").unwrap();
    line.clear();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "survived");
    drop(stdin);
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(0),
        "the oracle: it exited 0, not of SIGPIPE"
    );
    std::thread::sleep(Duration::from_millis(500));
    let report = tracer.stop_json();
    let f = findings(&report, pid);
    assert_eq!(f.len(), 1, "{report:#}");
    let e = &f[0]["evidence"];
    assert_eq!(f[0]["severity"], "warning", "{:#}", f[0]);
    assert_eq!(e["died"], false);
    assert_eq!(e["outcome"], "blocked");
    assert_eq!(e["blocked"], true);
    assert_eq!(e["exit_code"], 0);
    assert_eq!(e["fd"], 2);
    assert_eq!(e["fd_role"], "log");
    assert_eq!(e["fd_kind"], "pipe");
    assert_eq!(e["epipe_count"], 5);
    let t = totals(&report, pid);
    // The first is queued and stays pending (blocked); the next four merge with it.
    assert_eq!(
        (t["blocked"].as_u64(), t["already_pending"].as_u64()),
        (Some(1), Some(4))
    );
    assert_eq!(
        (t["deaths"].as_u64(), t["delivered_default"].as_u64()),
        (Some(0), Some(0))
    );
}

/// `@name[key]: count` lines from bpftrace's exit dump.
fn bpftrace_maps(out: &str) -> BTreeMap<String, u64> {
    out.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(": ")?;
            Some((k.trim().to_string(), v.trim().parse().ok()?))
        })
        .filter(|(k, _)| k.starts_with('@'))
        .collect()
}

/// 100,000 writes to a broken pipe with a SIGPIPE handler: 100,000 signals generated and
/// delivered. ctrace's totals for the process equal bpftrace's counts of the same tracepoints,
/// while the detailed records stay bounded.
#[test]
fn storm_totals_are_exact_against_bpftrace() {
    if !root() {
        return;
    }
    tests::apt_install_unless("command -v bpftrace", &["bpftrace"]);
    const N: u64 = 100_000;
    let gate = Gated::new(&format!("exec {HELPER} storm {N}"));
    let pid = gate.pid();
    // First: the tracer holds the tracefs lock that bpftrace needs too.
    let tracer = gate.tracer(&["trace", "sigpipe", "--json", "--interval", "500ms"]);
    // sys/types.h: bookworm's bpftrace parses 5.10's tracepoint formats with headers, not
    // BTF, and finds no pid_t there (`unknown type name 'pid_t'`); where BTF is used, the
    // same typedef twice is allowed.
    let script = format!(
        "#include <sys/types.h>
         BEGIN {{ printf(\"ready\\n\"); }}
         tracepoint:signal:signal_generate /args->sig == 13 && args->pid == {pid}/ {{ @gen[args->result] = count(); }}
         tracepoint:signal:signal_deliver /args->sig == 13 && pid == {pid}/ {{ @del = count(); }}"
    );
    let mut bt = Command::new("bpftrace")
        .args(["-e", &script])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut bt_out = BufReader::new(bt.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("ready") {
        line.clear();
        assert!(bt_out.read_line(&mut line).unwrap() > 0, "bpftrace exited");
    }
    gate.run();
    std::thread::sleep(Duration::from_millis(500));
    unsafe { libc::kill(bt.id() as i32, libc::SIGINT) };
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut bt_out, &mut rest).unwrap();
    bt.wait().unwrap();
    let report = tracer.stop_json();
    let oracle = bpftrace_maps(&rest);
    eprintln!("bpftrace: {oracle:?}");
    let t = totals(&report, pid);
    eprintln!("ctrace: {t}");
    let gen_total: u64 = oracle
        .iter()
        .filter(|(k, _)| k.starts_with("@gen"))
        .map(|(_, v)| v)
        .sum();
    assert!(
        gen_total >= N,
        "the storm raised {gen_total} SIGPIPEs, not {N}"
    );
    assert_eq!(t["generated"].as_u64(), Some(gen_total));
    assert_eq!(
        t["queued"].as_u64(),
        oracle.get("@gen[0]").copied().or(Some(0))
    );
    assert_eq!(
        t["already_pending"].as_u64(),
        oracle.get("@gen[2]").copied().or(Some(0))
    );
    assert_eq!(t["delivered_handler"].as_u64(), oracle.get("@del").copied());
    assert_eq!(t["deaths"], 0);
    // Bounded detail: a handful of records per kind and CPU, not one per signal.
    let kept = report["sigpipe"]["signals"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["pid"] == pid)
        .count();
    assert!(
        kept > 0 && kept <= 64 * 8,
        "records kept for the storm: {kept}"
    );
    assert!(report["sigpipe"]["sigpipes"].as_u64().unwrap() >= gen_total);
    assert_eq!(
        report["drops"]["sigpipe"], 0,
        "bounded records fit the ring"
    );
}

/// Without BTF offsets (forced): the /proc fallback, said so in the report; a death by SIGPIPE is
/// still found (an exit right after the signal), the fd described from ctrace's fd scan.
#[test]
fn without_btf_the_proc_fallback_is_used_and_said() {
    if !root() {
        return;
    }
    let tracer = Tracer::start_with(
        &["trace", "sigpipe", "--json", "--interval", "500ms"],
        &[("CTRACE_NO_BTF_OFFSETS", "1")],
    );
    let mut child = Command::new(HELPER)
        .arg("pipe")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    // Long enough for ctrace's periodic fd scan: /proc is all the fallback has.
    std::thread::sleep(Duration::from_millis(1200));
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let status = child.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(libc::SIGPIPE)
    );
    std::thread::sleep(Duration::from_millis(500));
    let report = tracer.stop_json();
    let from = report["sigpipe"]["facts_from"].as_str().unwrap();
    assert!(from.starts_with("proc: "), "{from}");
    let f = findings(&report, pid);
    assert_eq!(f.len(), 1, "{report:#}");
    assert_eq!(f[0]["severity"], "critical");
    assert_eq!(
        f[0]["evidence"]["exit_code"],
        Value::Null,
        "not read in the kernel"
    );
}

/// `serve`'s counter grows from the kernel's totals: a storm of 20,000 handled SIGPIPEs on the
/// host shows at least 20,000 (the bounded records are a few hundred; other processes on the
/// node may add theirs, so "at least").
#[test]
fn serve_counts_a_storm_from_the_kernel_totals() {
    if !root() {
        return;
    }
    const N: f64 = 20_000.0;
    let agent = tests::serve::Agent::start("sigpipe-storm", &["sigpipe", "--interval", "500ms"]);
    let handled = |m: &str| {
        m.lines()
            .filter(|l| {
                l.starts_with("ctrace_sigpipe_total{")
                    && l.contains("container=\"host\"")
                    && l.contains("outcome=\"handled\"")
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>()
    };
    let before = handled(&agent.get("/metrics").1);
    let st = Command::new(HELPER)
        .args(["storm", &(N as u64).to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let m = agent.wait_metrics("the storm's SIGPIPEs", Duration::from_secs(10), |m| {
        handled(m) - before >= N
    });
    eprintln!("handled: {}", handled(&m) - before);
    drop(agent);
}
