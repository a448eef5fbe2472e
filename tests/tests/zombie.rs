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

/// A tracer with a 1 s threshold and a 500 ms interval, attached.
fn zombie_tracer() -> Tracer {
    Tracer::start(&[
        "trace",
        "zombie",
        "--zombie-age",
        "1s",
        "--json",
        "--interval",
        "500ms",
    ])
}

#[test]
fn non_reaping_pid1_accumulates_zombies() {
    if !root() {
        return;
    }
    let tracer = zombie_tracer();
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
    let tracer = zombie_tracer();
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
    let tracer = zombie_tracer();
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

/// Zombies in /proc now whose parent is `ppid`: the oracle.
fn proc_zombies_under(ppid: u32) -> usize {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|p| std::fs::read_to_string(format!("/proc/{p}/status")).ok())
        .filter(|s| {
            s.lines().any(|l| l.starts_with("State:\tZ"))
                && s.lines().any(|l| l == format!("PPid:\t{ppid}"))
        })
        .count()
}

/// A zombie-helper `parent` run: its pid, and its stdin to release it and later end it.
struct Parent {
    child: Child,
    pid: u32,
    out: std::io::BufReader<std::process::ChildStdout>,
}

impl Parent {
    fn spawn(mode: &str, n: u32, gap_ms: u32) -> Parent {
        use std::io::BufRead as _;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_zombie-helper"))
            .args(["parent", mode, &n.to_string(), &gap_ms.to_string()])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        let pid = line.trim().strip_prefix("ready ").unwrap().parse().unwrap();
        Parent { child, pid, out }
    }

    fn go(&mut self) {
        use std::io::Write as _;
        writeln!(self.child.stdin.as_mut().unwrap(), "go").unwrap();
    }

    fn wait_forked(&mut self) {
        use std::io::BufRead as _;
        let mut line = String::new();
        self.out.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "forked");
    }
}

impl Drop for Parent {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// A pids cgroup (v1 on this hybrid host, v2 where that is all there is) with a limit.
struct PidsCgroup(std::path::PathBuf);

impl PidsCgroup {
    fn new(max: u32) -> PidsCgroup {
        let root = ["/sys/fs/cgroup/pids", "/sys/fs/cgroup"]
            .iter()
            .map(std::path::PathBuf::from)
            .find(|r| {
                r.join("cgroup.procs").exists() && {
                    r.ends_with("pids")
                        || std::fs::read_to_string(r.join("cgroup.subtree_control"))
                            .is_ok_and(|c| c.contains("pids"))
                }
            })
            .expect("no pids cgroup hierarchy");
        let dir = root.join(format!("ctrace-test-zombie-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("pids.max"), max.to_string()).unwrap();
        PidsCgroup(dir)
    }

    fn add(&self, pid: u32) {
        std::fs::write(self.0.join("cgroup.procs"), pid.to_string()).unwrap();
    }

    fn current(&self) -> u64 {
        std::fs::read_to_string(self.0.join("pids.current"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }
}

impl Drop for PidsCgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

#[test]
fn non_pid1_parent_that_never_waits_is_named_with_its_projection() {
    if !root() {
        return;
    }
    let cg = PidsCgroup::new(100);
    let mut noreap = Parent::spawn("noreap", 20, 40);
    let mut reap = Parent::spawn("reap", 20, 40);
    cg.add(noreap.pid);
    let tracer = zombie_tracer();
    let started = std::time::Instant::now();
    noreap.go();
    reap.go();
    noreap.wait_forked();
    reap.wait_forked();
    std::thread::sleep(Duration::from_millis(1500));
    // The oracles, just before the report: ps's zombies and the cgroup's pids.current.
    let zombies = proc_zombies_under(noreap.pid);
    let current = cg.current();
    let watched_s = started.elapsed().as_secs_f64();
    let report = tracer.stop_json();
    let (np, rp) = (noreap.pid, reap.pid);
    drop(noreap);
    drop(reap);
    drop(cg);

    assert_eq!(zombies, 20);
    let of = |pid: u32| -> Vec<&Value> {
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["kind"] == "zombie_accumulation" && f["subject"]["pid"] == pid)
            .collect()
    };
    assert!(
        of(rp).is_empty(),
        "a parent that reaps is flagged: {report:#}"
    );
    let f = of(np);
    assert_eq!(f.len(), 1, "{report:#}");
    let e = &f[0]["evidence"];
    assert_eq!(e["zombies"], zombies, "{e}");
    assert_eq!(e["parent_comm"], "noreap-parent");
    assert_eq!(f[0]["subject"]["comm"], "noreap-parent");
    assert_eq!(e["parent_is_pid1"], false);
    assert!(!f[0]["remediation"].as_str().unwrap().contains("--init"));
    // Projection: what is left under pids.max, at the rate the zombies came.
    assert_eq!(e["headroom_limit"], "pids.max", "{e}");
    assert_eq!(e["pids_max"], 100);
    assert_eq!(e["headroom"], 100 - current, "{e}");
    let rate = e["rate_per_min"].as_f64().unwrap();
    let expected_rate = 20.0 / (watched_s / 60.0);
    assert!(
        (rate / expected_rate - 1.0).abs() < 0.25,
        "rate {rate}/min, expected about {expected_rate}"
    );
    let t = e["time_to_limit_s"].as_f64().unwrap();
    let expected = (100 - current) as f64 / (expected_rate / 60.0);
    assert!(
        (t / expected - 1.0).abs() < 0.25,
        "time to pids.max {t}s, expected about {expected}s"
    );
}

/// A scoped tracer's live count against /proc at the same moments, with 500 zombies churning.
#[test]
fn live_count_stays_exact_under_churn() {
    if !root() {
        return;
    }
    let helper = env!("CARGO_BIN_EXE_zombie-helper");
    let gate = tests::Gated::new(&format!("{helper} churn 500 12"));
    let mut tracer = gate.tracer(&["trace", "zombie", "--json", "--interval", "500ms"]);
    let run = std::thread::spawn(move || gate.run());
    let mut samples = Vec::new();
    let start = std::time::Instant::now();
    let deadline = start + Duration::from_secs(11);
    while std::time::Instant::now() < deadline {
        tracer.wait_for("] zombie:", Duration::from_secs(5));
        let ours: usize = tracer
            .stderr
            .last()
            .unwrap()
            .split("zombie: ")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .expect("zombie: N now");
        let ps = churn_zombies();
        // The steady state: the pool is full (the ramp takes about 2 s), and the live line is
        // not one queued during the ramp.
        if ps >= 480 && start.elapsed() > Duration::from_secs(4) {
            samples.push((ours, ps));
        }
    }
    run.join().unwrap();
    let report = tracer.stop_json();
    assert!(samples.len() >= 3, "too few full-pool samples: {samples:?}");
    for &(ours, ps) in &samples {
        let off = (ours as f64 - ps as f64).abs() / ps as f64;
        assert!(off <= 0.02, "ctrace {ours} vs /proc {ps}: {samples:?}");
    }
    // All reaped at the end: nothing left counted.
    assert!(
        report["zombie"]["live"].as_u64().unwrap() <= 5,
        "{}",
        report["zombie"]["live"]
    );
}

/// Zombies under the churn helper, from /proc/PID/stat as ps reads them: one short read per
/// process, so the scan is quick next to the churn.
fn churn_zombies() -> usize {
    let stats: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|p| std::fs::read_to_string(format!("/proc/{p}/stat")).ok())
        .collect();
    // pid (comm) state ppid ...
    let fields = |s: &str| -> Option<(u32, char, u32)> {
        let pid = s.split_whitespace().next()?.parse().ok()?;
        let mut rest = s[s.rfind(')')? + 1..].split_whitespace();
        let state = rest.next()?.chars().next()?;
        Some((pid, state, rest.next()?.parse().ok()?))
    };
    let helpers: Vec<u32> = stats
        .iter()
        .filter(|s| s.contains("(zombie-churn)"))
        .filter_map(|s| Some(fields(s)?.0))
        .collect();
    stats
        .iter()
        .filter_map(|s| fields(s))
        .filter(|&(_, state, ppid)| state == 'Z' && helpers.contains(&ppid))
        .count()
}

/// `docker stop -t SECS NAME`, timed: the oracle for how long the stop waited.
fn docker_stop(name: &str, secs: u32) -> f64 {
    let t = std::time::Instant::now();
    let ok = std::process::Command::new("docker")
        .args(["stop", "-t", &secs.to_string(), name])
        .output()
        .unwrap()
        .status
        .success();
    assert!(ok, "docker stop {name}");
    t.elapsed().as_secs_f64()
}

#[test]
fn docker_stop_of_a_pid1_without_a_sigterm_handler() {
    if !root() {
        return;
    }
    const BARE: &str = "ctrace-test-zombie-stop-bare";
    const INIT: &str = "ctrace-test-zombie-stop-init";
    let docker = Docker::start();
    // busybox sleep as PID 1 has no SIGTERM handler; under --init, docker-init forwards it.
    let bare = docker.run(BARE, &[], &["sleep", "3600"]);
    let init = docker.run(INIT, &["--init"], &["sleep", "3600"]);
    let tracer = zombie_tracer();
    let bare_wait = docker_stop(BARE, 2);
    let init_wait = docker_stop(INIT, 2);
    std::thread::sleep(Duration::from_millis(700));
    let report = tracer.stop_json();
    docker.rm(BARE);
    docker.rm(INIT);

    // The oracle: the bare stop waited out its timeout, the --init one did not.
    assert!(bare_wait >= 2.0, "docker stop took {bare_wait}s");
    assert!(init_wait < 1.5, "docker stop --init took {init_wait}s");
    let dropped: Vec<&Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "pid1_signal_dropped")
        .collect();
    let of = |id: &str| -> Vec<&&Value> {
        dropped
            .iter()
            .filter(|f| f["subject"]["container_id"] == id)
            .collect()
    };
    assert!(of(&init).is_empty(), "--init container flagged: {report:#}");
    let f = of(&bare);
    assert_eq!(f.len(), 1, "{report:#}");
    let e = &f[0]["evidence"];
    assert_eq!(f[0]["subject"]["container_name"], BARE);
    assert_eq!(e["signal"], "SIGTERM");
    assert_eq!(e["comm"], "sleep");
    assert_eq!(e["handler"], "default");
    let waited = e["killed_after_s"].as_f64().expect("the SIGKILL was seen");
    assert!(
        (1.8..=bare_wait + 0.2).contains(&waited),
        "SIGKILL {waited}s after the SIGTERM; docker stop took {bare_wait}s"
    );
    assert!(f[0]["remediation"].as_str().unwrap().contains("--init"));
}
