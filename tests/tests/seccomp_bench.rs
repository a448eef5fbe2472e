//! The seccomp benchmark and the live seccomp_slowdown finding, on the real kernel with real
//! filters and real containers.

use std::{process::Command, time::Duration};

use serde_json::Value;
use tests::{docker::Docker, root, run_ctrace};

fn result<'a>(doc: &'a Value, workload: &str, setup_prefix: &str) -> &'a Value {
    doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| {
            r["workload"] == workload && r["setup"].as_str().unwrap().starts_with(setup_prefix)
        })
        .unwrap_or_else(|| panic!("no {workload}/{setup_prefix} in {doc:#}"))
}

/// Many argument-checked rules on getppid itself: every call runs them all. Each value has its
/// own upper 32 bits, so libseccomp can't decide them all with one comparison.
fn heavy_profile() -> tempfile_path::Path {
    heavy_profile_on(&["getppid"], "heavy.json")
}

/// The same rules on other calls (the action cache can't skip a call whose rules read an
/// argument); none of them matches a real call, so everything is allowed, slowly.
fn heavy_profile_on(names: &[&str], file: &str) -> tempfile_path::Path {
    let rules: Vec<Value> = (0..400u64)
        .map(|i| {
            serde_json::json!({"names": names, "action": "SCMP_ACT_ERRNO",
                "args": [{"index": 0, "value": ((i + 1) << 32) | (i * 7 + 3), "op": "SCMP_CMP_EQ"}]})
        })
        .collect();
    let doc = serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules});
    tempfile_path::Path::with(&serde_json::to_string(&doc).unwrap(), file)
}

mod tempfile_path {
    /// A file in the temp dir, removed on drop.
    pub struct Path(pub std::path::PathBuf);
    impl Path {
        pub fn with(text: &str, name: &str) -> Path {
            let p = std::env::temp_dir().join(format!("ctrace-test-{}-{name}", std::process::id()));
            std::fs::write(&p, text).unwrap();
            Path(p)
        }
        pub fn arg(&self) -> &str {
            self.0.to_str().unwrap()
        }
    }
    impl Drop for Path {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

#[test]
fn heavy_profile_costs_more_than_no_filter() {
    if !root() {
        return;
    }
    let heavy = heavy_profile();
    let (code, out, err) = run_ctrace(&[
        "bench",
        "seccomp",
        "--profile",
        heavy.arg(),
        "--workload",
        "getppid",
        "--iterations",
        "200000",
        "--runs",
        "5",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    let none = result(&doc, "getppid", "none")["ns_per_op"]
        .as_f64()
        .unwrap();
    let h = result(&doc, "getppid", "ctrace-test")["ns_per_op"]
        .as_f64()
        .unwrap();
    let default = result(&doc, "getppid", "docker-default")["ns_per_op"]
        .as_f64()
        .unwrap();
    // Measured here: none ~215 ns, Docker's default ~260 ns, this profile ~500 ns.
    assert!(h > none + 100.0, "heavy {h} ns vs none {none} ns");
    assert!(h > default, "heavy {h} ns vs docker-default {default} ns");
    assert!(
        result(&doc, "getppid", "ctrace-test")["lost_ns_per_syscall"]
            .as_f64()
            .unwrap()
            > 50.0
    );
    let heavy_row = result(&doc, "getppid", "ctrace-test");
    let (lo, mid, hi) = (
        heavy_row["lost_ns_per_syscall_min"].as_f64().unwrap(),
        heavy_row["lost_ns_per_syscall"].as_f64().unwrap(),
        heavy_row["lost_ns_per_syscall_max"].as_f64().unwrap(),
    );
    assert!(lo <= mid && mid <= hi, "{heavy_row}");
    assert_eq!(heavy_row["rounds"], 5);
    for key in ["p50_ns", "p99_ns", "max_ns", "vs_none"] {
        assert!(
            result(&doc, "getppid", "docker-default").get(key).is_some(),
            "{key}"
        );
    }
    assert!(doc["node"]["kernel"].is_string());
}

#[test]
fn command_mode_times_a_command_under_each_setup() {
    if !root() {
        return;
    }
    let (code, out, err) = run_ctrace(&[
        "bench",
        "seccomp",
        "--workload",
        "getppid",
        "--iterations",
        "1000",
        "--runs",
        "2",
        "--json",
        "--",
        "true",
    ]);
    assert_eq!(code, 0, "{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    let rows = doc["command"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{doc:#}");
    assert!(rows.iter().all(|r| r["median_s"].as_f64().unwrap() > 0.0));
}

#[test]
fn bad_input_is_one_clear_line() {
    if !root() {
        return;
    }
    let bad = tempfile_path::Path::with(
        "{\n  \"defaultAction\": \"SCMP_ACT_ALLOW\",\n  \"syscalls\": [ {\"names\": [\"read\"]} ]\n}",
        "bad.json",
    );
    let notify = tempfile_path::Path::with(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}]}"#,
        "notify.json",
    );
    let cases: [(&[&str], &str); 3] = [
        (
            &["--profile", bad.arg()],
            "missing field `action` at line 3",
        ),
        (&["--profile", notify.arg()], "SCMP_ACT_NOTIFY"),
        (&["--pid", "999999999"], "unknown pid: 999999999"),
    ];
    for (extra, want) in cases {
        let mut args = vec![
            "bench",
            "seccomp",
            "--workload",
            "getppid",
            "--iterations",
            "1000",
        ];
        args.extend_from_slice(extra);
        let (code, _, err) = run_ctrace(&args);
        assert_eq!(code, 2, "what the user gave: {args:?}: {err}");
        let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{err}");
        assert!(lines[0].contains(want), "{args:?}: {err}");
    }
}

/// A process with no filter (this test, as the kernel's status says) is a row that says so,
/// and the other setups still run.
#[test]
fn an_unfiltered_pid_is_a_row_not_an_abort() {
    if !root() {
        return;
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    assert!(status.lines().any(|l| l == "Seccomp:\t0"), "{status}");
    let me = std::process::id().to_string();
    let (code, out, err) = run_ctrace(&[
        "bench",
        "seccomp",
        "--pid",
        &me,
        "--workload",
        "getppid",
        "--iterations",
        "1000",
        "--runs",
        "1",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    let row = result(&doc, "getppid", &format!("pid {me} ("));
    assert!(
        row["setup"]
            .as_str()
            .unwrap()
            .ends_with("no seccomp filter)"),
        "{row}"
    );
    result(&doc, "getppid", "docker-default");
}

#[test]
fn unknown_syscall_names_are_skipped_with_a_warning() {
    if !root() {
        return;
    }
    let unknown = tempfile_path::Path::with(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["frobnicate", "getppid"], "action": "SCMP_ACT_ERRNO"}]}"#,
        "unknown.json",
    );
    let (code, out, err) = run_ctrace(&[
        "bench",
        "seccomp",
        "--profile",
        unknown.arg(),
        "--workload",
        "getppid",
        "--iterations",
        "1000",
        "--runs",
        "1",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let warned: Vec<&str> = err.lines().filter(|l| l.contains("frobnicate")).collect();
    assert_eq!(warned.len(), 1, "{err}");
    assert!(warned[0].contains("skipped"), "{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    result(&doc, "getppid", "ctrace-test");
}

fn host_pid(name: &str) -> u32 {
    let out = Command::new("docker")
        .args(["inspect", "-f", "{{.State.Pid}}", name])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

#[test]
fn docker_pid_filter_and_live_finding() {
    if !root() {
        return;
    }
    const FILTERED: &str = "ctrace-test-slowdown-heavy";
    const OPEN: &str = "ctrace-test-slowdown-unconfined";
    let docker = Docker::start();
    // One byte per read and write: a syscall-heavy workload.
    let busy = ["dd", "if=/dev/zero", "of=/dev/null", "bs=1"];
    // A filter that certainly costs the loop's own calls: with the kernel's action cache,
    // Docker's default profile lets read and write through for a few ns, which a finding on a
    // loaded node can't tell from noise; argument checks on read and write make every one of
    // them run the 400 rules (the sampled figure sees it in the filter's own frames).
    let heavy = heavy_profile_on(&["read", "write"], "heavy-rw.json");
    let opt = format!("seccomp={}", heavy.arg());
    let filtered = docker.run(FILTERED, &["--security-opt", &opt], &busy);
    let open = docker.run(OPEN, &["--security-opt", "seccomp=unconfined"], &busy);
    std::thread::sleep(Duration::from_millis(500));

    // --pid reads the container's real filter and benchmarks it.
    let pid = host_pid(FILTERED).to_string();
    let (code, out, err) = run_ctrace(&[
        "bench",
        "seccomp",
        "--pid",
        &pid,
        "--workload",
        "getppid",
        "--iterations",
        "100000",
        "--runs",
        "3",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    let setup = doc["setups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"].as_str().unwrap().starts_with("pid "))
        .unwrap();
    assert!(setup["instructions"].as_u64().unwrap() > 50, "{setup}");
    result(&doc, "getppid", "pid ");

    // --docker: the same command in a container under the default profile and unconfined.
    let (code, out, err) = run_ctrace(&[
        "bench",
        "seccomp",
        "--docker",
        tests::docker::IMAGE,
        "--workload",
        "getppid",
        "--iterations",
        "1000",
        "--runs",
        "2",
        "--json",
        "--",
        "true",
    ]);
    assert_eq!(code, 0, "{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    let setups: Vec<&str> = doc["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["setup"].as_str().unwrap())
        .collect();
    assert_eq!(
        setups,
        ["docker unconfined", "docker default profile"],
        "{doc:#}"
    );

    let (code, out, err) = run_ctrace(&[
        "trace",
        "seccomp",
        "--count-only",
        "--container",
        FILTERED,
        "--container",
        OPEN,
        "--duration",
        "3s",
        "--json",
    ]);
    docker.rm(FILTERED);
    docker.rm(OPEN);
    assert_eq!(code, 0, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    let slow: Vec<&Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "seccomp_slowdown")
        .collect();
    assert!(
        slow.iter()
            .any(|f| f["subject"]["container_id"] == filtered.as_str()),
        "no finding for the filtered container: {report:#}"
    );
    assert!(
        !slow
            .iter()
            .any(|f| f["subject"]["container_id"] == open.as_str()),
        "unconfined container flagged"
    );
    let f = slow
        .iter()
        .find(|f| f["subject"]["container_id"] == filtered.as_str())
        .unwrap();
    assert_eq!(f["subject"]["container_name"], FILTERED);
    let e = &f["evidence"];
    for key in [
        "syscalls_per_s",
        "ns_per_syscall",
        "ms_lost_per_s",
        "filter_instructions",
        "action_cache",
        "top_syscalls",
    ] {
        assert!(e.get(key).is_some(), "evidence lacks {key}: {e}");
    }
    assert!(e["ms_lost_per_s"].as_f64().unwrap() > 0.0);
}

/// A tracer running beside the bench is named before anything is timed, and a user command
/// that fails is said to be the user's, without ctrace's own wrapper command line.
#[test]
fn another_tracer_is_named_and_a_failing_command_is_yours() {
    if !root() {
        return;
    }
    let tracer = tests::Tracer::start(&["trace", "seccomp", "--json"]);
    let (code, _, err) = run_ctrace(&[
        "bench",
        "seccomp",
        "--workload",
        "getppid",
        "--iterations",
        "1000",
        "--runs",
        "1",
        "--",
        "false",
    ]);
    let pid = tracer.pid();
    tracer.stop_json();
    assert_eq!(code, 1, "{err}");
    assert!(
        err.lines()
            .any(|l| l.contains("another BPF tracer is running")
                && l.contains(&format!("ctrace (pid {pid})"))),
        "{err}"
    );
    let last = err.lines().last().unwrap_or("");
    assert!(last.contains("your command `false` failed under"), "{err}");
    assert!(!err.contains("__seccomp-exec"), "{err}");
}

/// Children of `pid` with their comm, from /proc.
fn children_of(pid: u32) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let rest: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        if rest.get(1).and_then(|p| p.parse::<u32>().ok()) == Some(pid) && rest[0] != "Z" {
            let child = stat[..open].trim().parse().unwrap();
            out.push((child, stat[open + 1..close].to_string()));
        }
    }
    out
}

/// Whether `pid` still runs (a zombie runs nothing: its reaping is its parent's business).
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|st| st.rfind(')').is_some_and(|i| !st[i + 2..].starts_with('Z')))
}

/// Starts `bench seccomp` with `args`, waits for a child whose comm is `comm`, sends `sig`;
/// the child must be gone within seconds, and the bench too.
fn interrupted_bench_leaves_nothing(args: &[&str], comm: &str, sig: i32) {
    let mut bench = Command::new(tests::ctrace_bin())
        .args(["bench", "seccomp"])
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = bench.id();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let child = loop {
        if let Some((c, _)) = children_of(pid).into_iter().find(|(_, n)| n == comm) {
            break c;
        }
        assert!(
            std::time::Instant::now() < deadline && bench.try_wait().unwrap().is_none(),
            "no {comm} child of the bench"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    // SAFETY: kill(2) on the bench this test started; no memory is passed.
    unsafe { libc::kill(pid as i32, sig) };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while running(child) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let alive = running(child);
    if alive {
        // SAFETY: as above, on the child that outlived it.
        unsafe { libc::kill(child as i32, libc::SIGKILL) };
    }
    let status = bench.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut bench.stderr.take().unwrap(), &mut err).unwrap();
    assert!(
        !alive,
        "{comm} ({child}) outlived the bench after signal {sig}: {err}"
    );
    assert!(!status.success(), "{status}: {err}");
    if sig != libc::SIGKILL {
        assert!(err.contains("interrupted"), "{err}");
    }
}

#[test]
fn an_interrupted_bench_stops_its_workload_and_your_command() {
    if !root() {
        return;
    }
    // The workload child, endless for this test's purpose.
    let spin = [
        "--workload",
        "getppid",
        "--iterations",
        "10000000000",
        "--runs",
        "1",
    ];
    interrupted_bench_leaves_nothing(&spin, "ctrace", libc::SIGINT);
    // The user's command, after a short workload.
    let cmd = [
        "--workload",
        "getppid",
        "--iterations",
        "1000",
        "--runs",
        "1",
        "--",
        "sleep",
        "1000",
    ];
    interrupted_bench_leaves_nothing(&cmd, "sleep", libc::SIGTERM);
    interrupted_bench_leaves_nothing(&cmd, "sleep", libc::SIGKILL);
}
