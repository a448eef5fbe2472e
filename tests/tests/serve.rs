//! `ctrace serve` against the real kernel: metrics and findings from real events, the NDJSON
//! stream, the caps on state, and a clean exit on SIGTERM.

use std::{
    process::{Child, Command},
    time::{Duration, Instant},
};

use tests::{
    root,
    serve::{Agent, sample},
    spawn_ready,
};

const KEY: u32 = 0x0d4d_2000;

fn remove_key(k: u32) {
    let id = unsafe { libc::semget(k as i32, 0, 0) };
    if id >= 0 {
        unsafe { libc::semctl(id, 0, libc::IPC_RMID) };
    }
}

fn host_ipc_ns() -> u64 {
    std::os::unix::fs::MetadataExt::ino(&std::fs::metadata("/proc/self/ns/ipc").unwrap())
}

fn sem_helper(args: &[&str]) -> Child {
    let (child, line) = spawn_ready(env!("CARGO_BIN_EXE_sem-helper"), args);
    assert_eq!(line, "ready");
    child
}

/// Polls /report until the set with KEY is leaked; returns the set.
fn wait_leaked(agent: &Agent) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, body) = agent.get("/report");
        let report: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        let set = report["sem"]["sets"].as_array().and_then(|sets| {
            sets.iter()
                .find(|s| s["key"] == format!("{KEY:#010x}") && s["state"] == "leaked")
                .cloned()
        });
        if let Some(s) = set {
            return s;
        }
        assert!(Instant::now() < deadline, "never leaked: {report:#}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn a_leaked_cookie_reaches_metrics_findings_and_the_stream() {
    if !root() {
        return;
    }
    // KEY is in the host's IPC namespace, shared with sem's tests and other checkouts' runs.
    let _keys = tests::node_lock("sysv-sem");
    remove_key(KEY);
    let sem_args = ["sem", "--sem-leak-age", "1s", "--interval", "300ms"];
    let agent = Agent::start("serve-sem", &sem_args);
    let mut child = sem_helper(&["create", "1", &format!("{KEY:#x}")]);
    std::thread::sleep(Duration::from_millis(500));
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();
    let set = wait_leaked(&agent);
    assert_eq!(set["source"], "traced");
    assert_eq!(set["creator_comm"], "sem-helper");
    let m = agent.wait_metrics("a leaked set", Duration::from_secs(5), |m| {
        sample(m, "ctrace_sem_leaked_sets{container=\"host\"").unwrap_or(0.0) >= 1.0
    });
    assert!(m.contains("# TYPE ctrace_sem_sets_limit gauge"), "{m}");
    // sem rides the syscall dispatcher: its tier is the dispatcher's.
    assert!(
        ["tp_btf", "raw_tp", "tracepoint"]
            .iter()
            .any(|t| m.contains(&format!(
                "ctrace_probe_attached{{problem=\"sem\",attach_type=\"{t}\"}} 1"
            ))),
        "{m}"
    );
    assert!(
        sample(&m, "ctrace_bpf_map_bytes{map=\"DROPS\"}").is_some_and(|b| b > 0.0),
        "{m}"
    );
    assert!(
        m.contains("ctrace_finding_active{container=\"host\",container_id=\"\",kind=\"sem_leak\"")
    );
    // A plain client gets the classic text format; Prometheus, which asks, gets OpenMetrics.
    assert!(!m.contains("# EOF"), "{m}");
    assert!(m.contains("# TYPE ctrace_events_total counter"), "{m}");
    let accept =
        "Accept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5";
    let (code, head, om) = tests::serve::request(&agent.addr, "GET", "/metrics", &[accept]);
    assert_eq!(code, 200);
    assert!(head.contains("application/openmetrics-text"), "{head}");
    assert!(om.ends_with("# EOF\n"), "not OpenMetrics");

    let (code, body) = agent.get("/findings");
    assert_eq!(code, 200);
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    let kinds: Vec<&str> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["kind"].as_str())
        .collect();
    assert!(kinds.contains(&"sem_leak"), "{doc:#}");
    let (code, body) = agent.get("/healthz");
    assert_eq!(code, 200, "{body}");
    assert!(body.starts_with("ok: last tick"), "{body}");
    assert_eq!(agent.get("/nope").0, 404);

    let lines = agent.findings_lines();
    let new: Vec<_> = lines
        .iter()
        .filter(|l| l["event"] == "finding" && l["finding"]["kind"] == "sem_leak")
        .filter(|l| l["finding"]["evidence"]["ipc_ns"] == host_ipc_ns())
        .collect();
    // The finding is the host namespace's: one line, whether KEY's set opened it or joined one
    // that another leak (not this test's) opened before.
    assert_eq!(new.len(), 1, "one NDJSON line per new finding: {lines:#?}");

    let status = agent.tracer.terminate();
    assert!(status.success(), "serve exited with {status} on SIGTERM");

    // A restarted agent finds the leak again, from the kernel's inventory.
    let again = Agent::start("serve-sem-again", &sem_args);
    let set = wait_leaked(&again);
    remove_key(KEY);
    assert_eq!(set["source"], "inventory");
    assert!(again.tracer.terminate().success());
}

#[test]
fn state_is_capped_and_evictions_are_counted() {
    if !root() {
        return;
    }
    let agent = Agent::start(
        "serve-cap",
        &["seccomp", "--max-processes", "3", "--interval", "200ms"],
    );
    // Live processes that made syscalls: more than the cap.
    let mut sleepers: Vec<Child> = (0..8)
        .map(|_| Command::new("sleep").arg("30").spawn().unwrap())
        .collect();
    let m = agent.wait_metrics("process evictions", Duration::from_secs(20), |m| {
        sample(m, "ctrace_evictions_total{what=\"process\"}").unwrap_or(0.0) >= 5.0
    });
    let tracked = sample(&m, "ctrace_tracked{what=\"process\"}").unwrap();
    assert!(tracked <= 3.0, "{tracked} processes held with a cap of 3");
    // Counters never go back, although processes were forgotten.
    let total = |m: &str| {
        sample(
            m,
            "ctrace_syscalls_total{container=\"host\",container_id=\"\",class=\"file\"}",
        )
        .unwrap()
    };
    let first = total(&m);
    for s in &mut sleepers {
        let _ = s.kill();
        let _ = s.wait();
    }
    std::thread::sleep(Duration::from_millis(600));
    let later = total(&agent.get("/metrics").1);
    assert!(later >= first, "counter went back: {first} -> {later}");
    assert!(agent.tracer.terminate().success());
}

/// A pid namespace whose PID 1 never reaps: three children and three orphans stay zombies
/// until it ends, as it does when dropped (a failing test leaves no tree behind).
struct NoReapTree {
    helper: Child,
    init: u32,
}

impl NoReapTree {
    fn start() -> NoReapTree {
        let (helper, line) = spawn_ready(
            env!("CARGO_BIN_EXE_zombie-helper"),
            &["ns-tree", "noreap", "3"],
        );
        let init = line.strip_prefix("ready ").unwrap().parse().unwrap();
        NoReapTree { helper, init }
    }

    /// Killing the namespace's PID 1 ends the namespace: its zombies are reaped.
    fn end(&mut self) {
        // SAFETY: signals the namespace's PID 1, a process of this test.
        unsafe { libc::kill(self.init as i32, libc::SIGKILL) };
        let _ = self.helper.wait();
    }
}

impl Drop for NoReapTree {
    fn drop(&mut self) {
        if matches!(self.helper.try_wait(), Ok(None)) {
            self.end();
        }
    }
}

/// The agent's /report, parsed, and its zombie_accumulation finding for `init`'s namespace.
fn zombie_finding_of(agent: &Agent, init: u32) -> (serde_json::Value, Option<serde_json::Value>) {
    let (_, body) = agent.get("/report");
    let report: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    let f = report["findings"].as_array().and_then(|fs| {
        fs.iter()
            .find(|f| f["kind"] == "zombie_accumulation" && f["evidence"]["pid1_pid"] == init)
            .cloned()
    });
    (report, f)
}

/// A finding raised and resolved while serve runs stays in /report, marked so, with when it
/// held: as `trace`'s report keeps the findings of its window. /findings has what holds now.
#[test]
fn report_keeps_a_finding_resolved_meanwhile() {
    if !root() {
        return;
    }
    let agent = Agent::start(
        "serve-resolved",
        &["zombie", "--zombie-age", "1s", "--interval", "300ms"],
    );
    let mut tree = NoReapTree::start();
    let init = tree.init;
    let poll = |what: &str, done: &dyn Fn(&serde_json::Value) -> bool| {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (report, f) = zombie_finding_of(&agent, init);
            if let Some(f) = f.filter(|f| done(f)) {
                return (report, f);
            }
            assert!(Instant::now() < deadline, "never {what}: {report:#}");
            std::thread::sleep(Duration::from_millis(250));
        }
    };
    // Held now: `active` true (or, as /findings lists it, no window at all).
    let (_, raised) = poll("raised", &|f| f["active"] != false);
    tree.end();
    let (report, resolved) = poll("resolved", &|f| f["active"] == false);
    let (first, last) = (
        resolved["first_seen_s"].as_f64().unwrap(),
        resolved["last_seen_s"].as_f64().unwrap(),
    );
    assert_eq!(
        first,
        raised["first_seen_s"].as_f64().unwrap(),
        "{resolved:#}"
    );
    assert!(first <= last, "{resolved:#}");
    assert!(last < report["duration_s"].as_f64().unwrap(), "{report:#}");
    let (_, body) = agent.get("/findings");
    let now: serde_json::Value = serde_json::from_str(&body).unwrap();
    let still = now["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["kind"] == "zombie_accumulation" && f["evidence"]["pid1_pid"] == init);
    assert!(!still, "/findings lists a resolved finding: {now:#}");
    assert!(agent.tracer.terminate().success());
}
