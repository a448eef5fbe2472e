//! sem on the real kernel: real semget/semctl/semop, a real SIGKILL, a real IPC namespace.

use std::{process::Child, time::Duration};

use serde_json::Value;
use tests::{NodeLock, Tracer, node_lock, root, spawn_ready};

fn helper(args: &[&str]) -> (Child, String) {
    spawn_ready(env!("CARGO_BIN_EXE_sem-helper"), args)
}

/// Removes any set with a key in [base, base + n) from this IPC namespace.
fn remove_keys(base: u32, n: u32) {
    for k in base..base + n {
        let id = unsafe { libc::semget(k as i32, 0, 0) };
        if id >= 0 {
            unsafe { libc::semctl(id, 0, libc::IPC_RMID) };
        }
    }
}

fn kill9(mut c: Child) {
    unsafe { libc::kill(c.id() as i32, libc::SIGKILL) };
    c.wait().unwrap();
}

fn sem_findings(report: &Value) -> Vec<&Value> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "sem_leak")
        .collect()
}

fn leaked_keys(report: &Value) -> Vec<String> {
    sem_findings(report)
        .iter()
        .flat_map(|f| f["evidence"]["leaked"].as_array().unwrap().iter())
        .map(|s| s["key"].as_str().unwrap().to_string())
        .collect()
}

/// The tests use fixed keys in the host's IPC namespace, as do serve's tests and any other
/// checkout's run on this node: one at a time.
fn keys_lock() -> NodeLock {
    node_lock("sysv-sem")
}

/// A tracer with a 1 s threshold and a 500 ms interval, attached.
fn sem_tracer() -> Tracer {
    Tracer::start(&[
        "trace",
        "sem",
        "--sem-leak-age",
        "1s",
        "--json",
        "--interval",
        "500ms",
    ])
}

#[test]
fn killed_creator_leaks_its_cookies() {
    if !root() {
        return;
    }
    let _keys = keys_lock();
    remove_keys(0x0d4d_1000, 3);
    let tracer = sem_tracer();
    let (child, line) = helper(&["create", "3", "0x0d4d1000"]);
    assert_eq!(line, "ready");
    std::thread::sleep(Duration::from_millis(600));
    kill9(child);
    std::thread::sleep(Duration::from_millis(2000));
    let report = tracer.stop_json();
    remove_keys(0x0d4d_1000, 3);

    let leaked: Vec<&Value> = sem_findings(&report)
        .iter()
        .flat_map(|f| f["evidence"]["leaked"].as_array().unwrap().iter())
        .filter(|s| s["key"].as_str().unwrap().starts_with("0x0d4d100"))
        .collect();
    let mut keys: Vec<&str> = leaked.iter().map(|s| s["key"].as_str().unwrap()).collect();
    keys.sort();
    assert_eq!(
        keys,
        ["0x0d4d1000", "0x0d4d1001", "0x0d4d1002"],
        "{report:#}"
    );
    for s in &leaked {
        assert_eq!(s["creator_comm"], "sem-helper");
        assert_eq!(s["cookie"], true);
    }
    // The finding of this namespace (the host's), whatever else leaked elsewhere meanwhile.
    let f = sem_findings(&report)
        .into_iter()
        .find(|f| {
            f["evidence"]["leaked"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["key"] == "0x0d4d1000")
        })
        .unwrap();
    assert!(f["explanation"].as_str().unwrap().contains("udev cookies"));
    assert!(
        f["remediation"]
            .as_str()
            .unwrap()
            .contains("dmsetup udevcomplete_all")
    );
    assert!(report["sem"]["events"]["semget"].as_u64().unwrap() >= 3);
}

#[test]
fn removed_or_used_sets_are_not_leaks() {
    if !root() {
        return;
    }
    let _keys = keys_lock();
    remove_keys(0x0d4d_2000, 2);
    remove_keys(0x5e5e_3000, 2);
    let tracer = sem_tracer();
    let (mut rm, line) = helper(&["create-rm", "2", "0x0d4d2000"]);
    assert_eq!(line, "done");
    rm.wait().unwrap();
    // Not cookies: a cookie is leaked by its age alone, whoever uses it.
    let (user, line) = helper(&["use", "2", "0x5e5e3000"]);
    assert_eq!(line, "ready");
    std::thread::sleep(Duration::from_millis(2500));
    let report = tracer.stop_json();
    kill9(user);
    remove_keys(0x5e5e_3000, 2);

    let sets = report["sem"]["sets"].as_array().unwrap();
    assert!(
        !sets
            .iter()
            .any(|s| s["key"].as_str().unwrap().starts_with("0x0d4d200")),
        "removed sets listed"
    );
    let used: Vec<&Value> = sets
        .iter()
        .filter(|s| s["key"].as_str().unwrap().starts_with("0x5e5e300"))
        .collect();
    assert_eq!(used.len(), 2, "{sets:#?}");
    assert!(used.iter().all(|s| s["state"] != "leaked"));
    assert!(
        !leaked_keys(&report)
            .iter()
            .any(|k| k.starts_with("0x0d4d200") || k.starts_with("0x5e5e300"))
    );
    assert!(report["sem"]["events"]["rmid"].as_u64().unwrap() >= 2);
    assert!(report["sem"]["events"]["use"].as_u64().unwrap() >= 2);
}

#[test]
fn full_namespace_is_critical_and_enospc_counted() {
    if !root() {
        return;
    }
    let _keys = keys_lock();
    let tracer = Tracer::start(&["trace", "sem", "--json", "--interval", "500ms"]);
    let (child, line) = helper(&["fill-ns", "4", "3"]);
    assert_eq!(line, "ready 4 3");
    let ns = std::fs::metadata(format!("/proc/{}/ns/ipc", child.id())).unwrap();
    let ns = std::os::unix::fs::MetadataExt::ino(&ns);
    std::thread::sleep(Duration::from_millis(1500));
    let report = tracer.stop_json();
    kill9(child);

    let f = sem_findings(&report)
        .into_iter()
        .find(|f| f["evidence"]["ipc_ns"] == ns)
        .unwrap_or_else(|| panic!("no finding for IPC namespace {ns}: {report:#}"));
    assert_eq!(f["severity"], "critical");
    assert_eq!(f["evidence"]["sets"], 4);
    assert_eq!(f["evidence"]["semmni"], 4);
    assert_eq!(f["evidence"]["enospc_failures"], 3);
    assert!(
        f["explanation"].as_str().unwrap().contains(&ns.to_string())
            || f["evidence"]["ipc_ns"] == ns
    );
}

#[test]
fn sets_from_before_the_start_are_in_the_inventory() {
    if !root() {
        return;
    }
    let _keys = keys_lock();
    remove_keys(0x0d4d_4000, 1);
    let id = unsafe { libc::semget(0x0d4d_4000, 1, libc::IPC_CREAT | 0o600) };
    assert!(id >= 0);
    std::thread::sleep(Duration::from_millis(1100));
    let (code, out, err) = tests::run_ctrace(&["trace", "sem", "--duration", "1s", "--json"]);
    unsafe { libc::semctl(id, 0, libc::IPC_RMID) };
    assert_eq!(code, 0, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    let set = report["sem"]["sets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == "0x0d4d4000")
        .unwrap_or_else(|| panic!("pre-existing set missing: {out}"));
    assert_eq!(set["source"], "inventory");
    assert_eq!(set["semid"], id);
    assert!(set["age_s"].as_f64().unwrap() >= 1.0, "{set}");
    assert_eq!(set["cookie"], true);
}

/// Sets in this IPC namespace per `ipcs -s`: the oracle.
fn ipcs_sets() -> Vec<String> {
    let out = std::process::Command::new("ipcs")
        .arg("-s")
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("0x"))
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect()
}

#[test]
fn a_cookie_leaked_by_a_living_creator_with_the_time_to_semmni() {
    if !root() {
        return;
    }
    let _keys = keys_lock();
    remove_keys(0x0d4d_5000, 3);
    remove_keys(0x0d4d_6000, 3);
    let tracer = sem_tracer();
    let started = std::time::Instant::now();
    // One creator keeps running with its cookies; the other removes its own.
    let (alive, line) = helper(&["create", "3", "0x0d4d5000"]);
    assert_eq!(line, "ready");
    let (mut rm, line) = helper(&["create-rm", "3", "0x0d4d6000"]);
    assert_eq!(line, "done");
    rm.wait().unwrap();
    std::thread::sleep(Duration::from_millis(2000));
    let listed = ipcs_sets();
    let watched_s = started.elapsed().as_secs_f64();
    let report = tracer.stop_json();
    let creator_alive = std::path::Path::new(&format!("/proc/{}", alive.id())).exists();
    kill9(alive);
    remove_keys(0x0d4d_5000, 3);

    assert!(creator_alive);
    for k in ["0x0d4d5000", "0x0d4d5001", "0x0d4d5002"] {
        assert!(listed.iter().any(|l| l == k), "ipcs lacks {k}: {listed:?}");
    }
    let leaked = leaked_keys(&report);
    for k in ["0x0d4d5000", "0x0d4d5001", "0x0d4d5002"] {
        assert!(leaked.iter().any(|l| l == k), "{k} not leaked: {report:#}");
    }
    assert!(!leaked.iter().any(|k| k.starts_with("0x0d4d600")));
    let f = sem_findings(&report)
        .into_iter()
        .find(|f| {
            f["evidence"]["leaked"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["key"] == "0x0d4d5000")
        })
        .unwrap();
    assert_eq!(f["severity"], "warning");
    // Projection: at least our 3 leaks in the watched time; the rest of SEMMNI at that rate.
    let e = &f["evidence"];
    let rate = e["leak_rate_per_min"].as_f64().unwrap();
    let ours = 3.0 / (watched_s / 60.0);
    assert!(
        rate >= ours * 0.75,
        "rate {rate}/min, ours alone {ours}/min"
    );
    let semmni = e["semmni"].as_u64().unwrap();
    let sets = e["sets"].as_u64().unwrap();
    assert!(
        sets.abs_diff(listed.len() as u64) <= 2,
        "ctrace {sets} sets, ipcs {}",
        listed.len()
    );
    let t = e["time_to_semmni_s"].as_f64().unwrap();
    let expected = (semmni - sets) as f64 / (rate / 60.0);
    assert!((t / expected - 1.0).abs() < 0.01, "{t} vs {expected}");
}

/// Keys listed by `ipcs -s` inside the IPC namespace of `pid`.
fn ipcs_in(pid: u32) -> Vec<String> {
    let out = std::process::Command::new("nsenter")
        .args(["--ipc", "--target", &pid.to_string(), "ipcs", "-s"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("0x"))
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect()
}

#[test]
fn orphaned_sets_in_another_ipc_namespace_are_info_and_removed_there() {
    if !root() {
        return;
    }
    let _keys = keys_lock();
    let tracer = sem_tracer();
    // A private IPC namespace: its creator is killed, a `sleep` keeps the namespace alive.
    let script = format!(
        "{} create 2 0x5e5e7000 & c=$!; sleep 0.3; kill -9 $c; wait $c 2>/dev/null; echo ready; exec sleep 60",
        env!("CARGO_BIN_EXE_sem-helper")
    );
    let (mut holder, line) = spawn_ready("unshare", &["--ipc", "sh", "-c", &script]);
    assert_eq!(line, "ready");
    let member = holder.id();
    std::thread::sleep(Duration::from_millis(2500));
    let before = ipcs_in(member);
    let report = tracer.stop_json();

    let ns = std::fs::metadata(format!("/proc/{member}/ns/ipc")).unwrap();
    let ns = std::os::unix::fs::MetadataExt::ino(&ns);
    let f = sem_findings(&report)
        .into_iter()
        .find(|f| f["evidence"]["ipc_ns"] == ns)
        .unwrap_or_else(|| panic!("no finding for IPC namespace {ns}: {report:#}"));
    // Run the advice as given, then ask ipcs inside the namespace.
    let fix = f["remediation"].as_str().unwrap();
    let cmd = fix
        .split('`')
        .find(|c| c.contains("ipcrm"))
        .unwrap_or_else(|| panic!("no ipcrm in {fix}"))
        .to_string();
    let removed = std::process::Command::new("sh")
        .args(["-c", &cmd])
        .status()
        .unwrap()
        .success();
    let after = ipcs_in(member);
    unsafe { libc::kill(member as i32, libc::SIGKILL) };
    holder.wait().unwrap();

    let mut keys = before.clone();
    keys.sort();
    assert_eq!(keys, ["0x5e5e7000", "0x5e5e7001"], "ipcs before");
    assert_eq!(f["severity"], "info", "{f:#}");
    assert_eq!(f["evidence"]["leaked_count"], 2);
    assert!(
        cmd.starts_with(&format!("nsenter --ipc --target {member} ipcrm -s ")),
        "{cmd}"
    );
    assert!(removed, "{cmd} failed");
    assert!(after.is_empty(), "left after `{cmd}`: {after:?}");
}

#[test]
fn a_leak_removed_during_the_trace_stays_in_the_report_as_resolved() {
    if !root() {
        return;
    }
    let _keys = keys_lock();
    let mut tracer = sem_tracer();
    // A private IPC namespace whose set's creator is killed: a leak, info severity.
    let script = format!(
        "{} create 1 0x5e5e7100 & c=$!; sleep 0.3; kill -9 $c; wait $c 2>/dev/null; echo ready; exec sleep 60",
        env!("CARGO_BIN_EXE_sem-helper")
    );
    let (mut holder, line) = spawn_ready("unshare", &["--ipc", "sh", "-c", &script]);
    assert_eq!(line, "ready");
    let member = holder.id();
    tracer.wait_for("sem_leak", Duration::from_secs(20));
    // Older than the leak age and seen by a few snapshots.
    std::thread::sleep(Duration::from_millis(2500));
    let during = ipcs_in(member);
    let removed = std::process::Command::new("nsenter")
        .args(["--ipc", "--target", &member.to_string()])
        .args(["ipcrm", "-S", "0x5e5e7100"])
        .status()
        .unwrap()
        .success();
    let after = ipcs_in(member);
    // Snapshots after the removal: the finding is gone from them.
    std::thread::sleep(Duration::from_millis(2000));
    let report = tracer.stop_json();
    let ns = std::fs::metadata(format!("/proc/{member}/ns/ipc")).unwrap();
    let ns = std::os::unix::fs::MetadataExt::ino(&ns);
    // SAFETY: kill(2) on the namespace's holder this test started.
    unsafe { libc::kill(member as i32, libc::SIGKILL) };
    holder.wait().unwrap();

    assert_eq!(during, ["0x5e5e7100"], "ipcs while the set leaked");
    assert!(removed && after.is_empty(), "ipcs after ipcrm: {after:?}");
    let f = sem_findings(&report)
        .into_iter()
        .find(|f| f["evidence"]["ipc_ns"] == ns)
        .unwrap_or_else(|| panic!("the resolved leak of {ns} is not in the report: {report:#}"));
    assert_eq!(f["active"], false, "{f:#}");
    let (first, last) = (
        f["first_seen_s"].as_f64().unwrap(),
        f["last_seen_s"].as_f64().unwrap(),
    );
    let end = report["duration_s"].as_f64().unwrap();
    assert!(first <= last && last + 1.0 < end, "{first} {last} {end}");
    // What is still true at the end says so.
    for f in report["findings"].as_array().unwrap() {
        assert!(f["active"].is_boolean(), "{f:#}");
    }
}
