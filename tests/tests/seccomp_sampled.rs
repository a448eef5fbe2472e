//! seccomp's sampled cost on a real dockerd: cpu-clock samples of kernel stacks, with no
//! syscall probe attached. A syscall-heavy container under Docker's default profile gets
//! `seccomp_slowdown`; its unconfined twin, the same loop, gets nothing.

use std::{
    process::Command,
    time::{Duration, Instant},
};

use serde_json::Value;
use tests::{docker::Docker, root, run_ctrace};

const FILTERED: &str = "ctrace-test-sampled-default";
const OPEN: &str = "ctrace-test-sampled-unconfined";

fn host_pid(name: &str) -> u32 {
    let out = Command::new("docker")
        .args(["inspect", "-f", "{{.State.Pid}}", name])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

fn docker_cli(args: &[&str]) -> bool {
    Command::new("docker")
        .args(args)
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn status_field(pid: u32, field: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| {
            l.strip_prefix(&format!("{field}:"))
                .map(|v| v.trim().to_string())
        })
        .unwrap()
}

fn row<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["seccomp"]["sampled"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["container_id"] == id)
        .unwrap_or_else(|| panic!("no sampled row for {id}: {report:#}"))
}

#[test]
fn sampled_default_profile_is_found_and_its_unconfined_twin_is_not() {
    if !root() {
        return;
    }
    let docker = Docker::start();
    // One byte per read and write: a syscall-bound loop.
    let busy = ["dd", "if=/dev/zero", "of=/dev/null", "bs=1"];
    let filtered = docker.run(FILTERED, &[], &busy);
    let open = docker.run(OPEN, &["--security-opt", "seccomp=unconfined"], &busy);
    std::thread::sleep(Duration::from_millis(500));
    // The kernel's own word on who has a filter: the oracle beside ctrace's classes.
    assert_eq!(status_field(host_pid(FILTERED), "Seccomp"), "2");
    assert_eq!(status_field(host_pid(OPEN), "Seccomp"), "0");
    let (code, out, err) = run_ctrace(&[
        "trace",
        "seccomp",
        "--sampled",
        "--container",
        FILTERED,
        "--container",
        OPEN,
        "--duration",
        "4s",
        "--json",
    ]);
    docker.rm(FILTERED);
    docker.rm(OPEN);
    assert_eq!(code, 0, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    // No syscall probe: the seccomp probe is the sampling program alone.
    let probe = report["probes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["problem"] == "seccomp")
        .unwrap();
    assert_eq!(probe["attach_type"], "perf_event", "{probe}");
    // The sampler, and the exec refresh of the kernel's record (a sched tracepoint): no
    // program on sys_enter or sys_exit.
    assert_eq!(
        probe["programs"],
        serde_json::json!(["seccomp_exec", "seccomp_sample"])
    );
    assert_eq!(report["seccomp"]["sampled"]["syscall_probes"], false);

    let f = row(&report, &filtered);
    let o = row(&report, &open);
    // Both loops ran (hundreds of samples each); only the filtered one shows seccomp.
    assert!(f["samples"]["total"].as_u64().unwrap() > 300, "{f}");
    assert!(o["samples"]["total"].as_u64().unwrap() > 300, "{o}");
    assert!(f["samples"]["filter"].as_u64().unwrap() > 0, "{f}");
    assert_eq!(o["samples"]["filter"], 0, "{o}");
    assert_eq!(o["samples"]["slow_path"], 0, "{o}");
    let high = f["seccomp"]["high"].as_f64().unwrap();
    let low = f["seccomp"]["low"].as_f64().unwrap();
    let ms = f["seccomp"]["ms_per_s"].as_f64().unwrap();
    assert!(low <= ms && ms <= high, "{f}");

    let slow: Vec<&Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "seccomp_slowdown")
        .collect();
    let found = slow
        .iter()
        .find(|f| f["subject"]["container_id"] == filtered.as_str())
        .unwrap_or_else(|| panic!("no finding for the default profile: {report:#}"));
    assert!(
        !slow
            .iter()
            .any(|f| f["subject"]["container_id"] == open.as_str()),
        "the unconfined twin was flagged: {report:#}"
    );
    let e = &found["evidence"];
    assert!(
        e["method"]
            .as_str()
            .unwrap()
            .starts_with("sampled: cpu-clock"),
        "{e}"
    );
    assert!(e["ms_lost_per_s"].as_f64().unwrap() > 0.0, "{e}");
    assert_eq!(found["subject"]["container_name"], FILTERED);
}

/// serve's figures are over a sliding window: a container that stops making syscalls (paused)
/// loses its finding within two windows.
#[test]
fn serve_resolves_the_finding_of_a_container_gone_quiet() {
    if !root() {
        return;
    }
    const QUIET: &str = "ctrace-test-sampled-quiet";
    const WINDOW_S: u64 = 3;
    let docker = Docker::start();
    let busy = ["dd", "if=/dev/zero", "of=/dev/null", "bs=1"];
    let id = docker.run(QUIET, &[], &busy);
    let window = format!("{WINDOW_S}s");
    let agent = tests::serve::Agent::start(
        "seccomp-window",
        &[
            "seccomp",
            "--sampled",
            "--container",
            QUIET,
            "--interval",
            "1s",
            "--seccomp-window",
            &window,
        ],
    );
    let line_for = |event: &str| {
        agent.findings_lines().into_iter().find(|l| {
            l["event"] == event
                && l["finding"]["kind"] == "seccomp_slowdown"
                && l["finding"]["subject"]["container_id"] == id.as_str()
        })
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while line_for("finding").is_none() {
        if Instant::now() > deadline {
            docker.rm(QUIET);
            panic!(
                "no finding for the busy container: {:#?}",
                agent.findings_lines()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let found = line_for("finding").unwrap();
    assert!(
        found["finding"]["evidence"]["method"]
            .as_str()
            .unwrap()
            .starts_with("sampled: cpu-clock"),
        "{found}"
    );
    // No more syscalls: the cgroup freezer stops every task of the container.
    assert!(docker_cli(&["pause", QUIET]));
    let paused = Instant::now();
    let limit = Duration::from_secs(2 * WINDOW_S);
    while line_for("resolved").is_none() && paused.elapsed() < limit + Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let took = paused.elapsed();
    let resolved = line_for("resolved").is_some();
    let lines = agent.findings_lines();
    let _ = docker_cli(&["unpause", QUIET]);
    docker.rm(QUIET);
    agent.tracer.terminate();
    assert!(resolved, "never resolved: {lines:#?}");
    assert!(
        took <= limit,
        "resolved {took:?} after the pause, over two windows"
    );
}
