//! zombie on the real kernel, beyond PID 1: a parent that never waits for its own children
//! (against one that does) with the projection to pids.max, and the live count under churn
//! against /proc.

use std::{process::Child, time::Duration};

use serde_json::Value;
use tests::{Tracer, root};

/// The tests here compare counts with /proc at a moment: one at a time, so that neither
/// loads the CPUs under the other's scans.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
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
        // A pure cgroup2 node (the VM kernels) may have the controller without enabling it for
        // children: the root cgroup can always enable it.
        let v2 = std::path::Path::new("/sys/fs/cgroup");
        if std::fs::read_to_string(v2.join("cgroup.controllers")).is_ok_and(|c| c.contains("pids"))
            && !std::fs::read_to_string(v2.join("cgroup.subtree_control"))
                .is_ok_and(|c| c.contains("pids"))
        {
            let _ = std::fs::write(v2.join("cgroup.subtree_control"), "+pids");
        }
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
    let _serial = serial();
    let cg = PidsCgroup::new(100);
    let mut noreap = Parent::spawn("noreap", 20, 40);
    let mut reap = Parent::spawn("reap", 20, 40);
    cg.add(noreap.pid);
    let spawned = std::time::Instant::now();
    let tracer = Tracer::zombie();
    noreap.go();
    reap.go();
    noreap.wait_forked();
    reap.wait_forked();
    std::thread::sleep(Duration::from_millis(1500));
    // The oracles, just before the report: ps's zombies and the cgroup's pids.current.
    let zombies = proc_zombies_under(noreap.pid);
    let current = cg.current();
    let report = tracer.stop_json();
    let outer_s = spawned.elapsed().as_secs_f64();
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
    // ps's count over ctrace's watch: longer than the run's `duration_s` (the probes attach
    // first), shorter than from the tracer's spawn to its report.
    let fastest = zombies as f64 / (report["duration_s"].as_f64().unwrap() / 60.0);
    let slowest = zombies as f64 / (outer_s / 60.0);
    assert!(
        (slowest * 0.95..=fastest * 1.05).contains(&rate),
        "rate {rate}/min, expected between {slowest} and {fastest}"
    );
    let t = e["time_to_limit_s"].as_f64().unwrap();
    let expected = (100 - current) as f64 / (rate / 60.0);
    assert!(
        (t / expected - 1.0).abs() < 0.05,
        "time to pids.max {t}s, expected about {expected}s"
    );
}

/// A scoped tracer's live count against /proc at the same moments, with 500 zombies churning.
#[test]
fn live_count_stays_exact_under_churn() {
    if !root() {
        return;
    }
    let _serial = serial();
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
    println!("(ctrace, /proc) with the pool full: {samples:?}");
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
