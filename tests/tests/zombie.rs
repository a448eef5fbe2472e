//! zombie on the real kernel: real pid namespaces, real orphans, a real non-reaping PID 1,
//! and real containers with and without --init.

use std::{process::Child, time::Duration};

use serde_json::Value;
use tests::{Tracer, docker::Docker, root, spawn_ready};

/// A pid namespace tree; returns the helper and the host pid of the namespace's PID 1.
fn ns_tree(mode: &str, n: u32) -> (Child, u32) {
    let (child, line) = spawn_ready(
        env!("CARGO_BIN_EXE_zombie-helper"),
        &["ns-tree", mode, &n.to_string()],
    );
    let pid = line
        .strip_prefix("ready ")
        .expect("ready line")
        .parse()
        .unwrap();
    (child, pid)
}

/// Killing a namespace's PID 1 kills the namespace; the helper then exits.
fn stop_tree(mut helper: Child, init: u32) {
    unsafe { libc::kill(init as i32, libc::SIGKILL) };
    helper.wait().unwrap();
}

fn findings_for(report: &Value, pid1: u32) -> Vec<&Value> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "zombie_accumulation" && f["evidence"]["pid1_pid"] == pid1)
        .collect()
}

#[test]
fn non_reaping_pid1_accumulates_zombies() {
    if !root() {
        return;
    }
    let tracer = Tracer::zombie();
    let (helper, init) = ns_tree("noreap", 3);
    std::thread::sleep(Duration::from_millis(1500));
    let report = tracer.stop_json();
    stop_tree(helper, init);

    let f = findings_for(&report, init);
    assert_eq!(f.len(), 1, "{report:#}");
    let e = &f[0]["evidence"];
    // Three children and three orphaned grandchildren, none reaped.
    assert_eq!(e["zombies"], 6, "{e}");
    assert_eq!(e["pid1_comm"], "noreap-init");
    assert_eq!(e["known_init"], false);
    assert_eq!(f[0]["subject"]["comm"], "noreap-init");
    let g = report["zombie"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["parent_pid"] == init)
        .unwrap();
    assert_eq!(g["parent_is_pid1"], true);
    assert!(g["rate_per_min"].as_f64().unwrap() > 0.0);
    let traced = report["zombie"]["zombies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|z| z["parent_pid"] == init && z["source"] == "traced")
        .count();
    assert_eq!(traced, 6, "every zombie's exit was traced");
}

#[test]
fn reaping_pid1_raises_nothing() {
    if !root() {
        return;
    }
    let tracer = Tracer::zombie();
    let (helper, init) = ns_tree("reap", 3);
    std::thread::sleep(Duration::from_millis(1500));
    let report = tracer.stop_json();
    stop_tree(helper, init);
    assert!(findings_for(&report, init).is_empty(), "{report:#}");
    assert!(report["zombie"]["exits"].as_u64().unwrap() >= 6);
    assert!(
        !report["zombie"]["groups"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["parent_pid"] == init)
    );
}

#[test]
fn zombies_from_before_the_start_are_scanned() {
    if !root() {
        return;
    }
    let (helper, init) = ns_tree("noreap", 2);
    let (code, out, err) = tests::run_ctrace(&[
        "trace",
        "zombie",
        "--zombie-age",
        "1s",
        "--duration",
        "1500ms",
        "--json",
    ]);
    stop_tree(helper, init);
    assert_eq!(code, 0, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        report["schema"], 1,
        "the report's JSON shape (docs/report.md)"
    );
    let scanned = report["zombie"]["zombies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|z| z["parent_pid"] == init && z["source"] == "scan")
        .count();
    assert_eq!(scanned, 4, "{out}");
    assert_eq!(findings_for(&report, init).len(), 1);
}

#[test]
fn docker_container_without_init_is_reported() {
    if !root() {
        return;
    }
    const BARE: &str = "ctrace-test-zombie-bare";
    const INIT: &str = "ctrace-test-zombie-init";
    // Subshells leave `sleep` orphaned; PID 1 then becomes `sleep 3600`, which never reaps.
    let cmd = [
        "sh",
        "-c",
        "(sleep 0.3 &); (sleep 0.3 &); (sleep 0.3 &); exec sleep 3600",
    ];
    let docker = Docker::start();
    let bare = docker.run(BARE, &[], &cmd);
    let init = docker.run(INIT, &["--init"], &cmd);
    let tracer = Tracer::zombie();
    std::thread::sleep(Duration::from_millis(2000));
    let report = tracer.stop_json();
    docker.rm(BARE);
    docker.rm(INIT);

    let f: Vec<&Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "zombie_accumulation")
        .collect();
    let bare_f: Vec<&&Value> = f
        .iter()
        .filter(|f| f["subject"]["container_id"] == bare.as_str())
        .collect();
    assert_eq!(bare_f.len(), 1, "{report:#}");
    assert_eq!(bare_f[0]["subject"]["container_name"], BARE);
    assert_eq!(bare_f[0]["evidence"]["zombies"], 3);
    assert_eq!(bare_f[0]["evidence"]["pid1_comm"], "sleep");
    assert!(
        !f.iter()
            .any(|f| f["subject"]["container_id"] == init.as_str()),
        "--init container flagged"
    );
}
