//! Test harness shared by the root integration tests: the ctrace binary, root checks that fail
//! under CI instead of skipping, a tracer process driver, and a real Docker engine.

pub mod bpf;
pub mod cbpf;
pub mod chromium;
pub mod containerd;
pub mod docker;
pub mod filters;
pub mod links;
mod node_lock;
pub mod overlay;
pub mod page;
pub mod podman;
pub mod prometheus;
pub mod rootfs;
pub mod serve;
pub mod threads;
pub mod tmux;

pub use node_lock::{NodeLock, node_lock, tracefs_in_use};

use std::{
    io::{BufRead, BufReader, Read, Write as _},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::Duration,
};

/// The ctrace binary under test (`cargo xtask test` sets CTRACE_BIN).
pub fn ctrace_bin() -> PathBuf {
    if let Ok(p) = std::env::var("CTRACE_BIN") {
        return PathBuf::from(p);
    }
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/debug/ctrace");
    assert!(
        p.exists(),
        "ctrace binary not found at {}: run `cargo xtask test`",
        p.display()
    );
    p
}

/// Where tests put scratch trees (overlay layers): target/, or CTRACE_SCRATCH where target/ is
/// read-only (the VM shares the host's root read-only and gives a tmpfs instead).
pub fn scratch_dir() -> PathBuf {
    match std::env::var("CTRACE_SCRATCH") {
        Ok(d) => PathBuf::from(d),
        Err(_) => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"),
    }
}

pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Installs Debian packages unless `present` (a shell test) already holds; idempotent, as
/// `cargo xtask test` installs them too.
pub fn apt_install_unless(present: &str, packages: &[&str]) {
    let have = Command::new("sh")
        .args(["-c", present])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if have {
        return;
    }
    eprintln!("tests: installing {}", packages.join(" "));
    let install = ["install", "-y", "-q", "--no-install-recommends"];
    for args in [&["update", "-q"][..], &[&install[..], packages].concat()] {
        let st = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .expect("apt-get");
        assert!(st.success(), "apt-get {args:?} failed");
    }
}

/// Tests that need a capability this run lacks say so loudly, and fail under CI=true.
pub fn skip_or_fail(why: &str) -> bool {
    if in_ci() {
        panic!("cannot run under CI: {why}");
    }
    eprintln!("\n!!! SKIPPED: {why} !!!\n");
    false
}

/// True when the test may go on as root; otherwise skipped loudly (or failed under CI).
pub fn root() -> bool {
    if unsafe { libc::geteuid() } == 0 {
        true
    } else {
        skip_or_fail("this test needs root (real eBPF probes)")
    }
}

/// A shell that runs `script` only once released, so that a tracer can first be started with
/// `--pid` on it: every command the script runs is its child and joins the filter at fork.
/// Node-wide tracers see every other test's events too; this is how a test counts only its own.
pub struct Gated {
    child: Child,
}

impl Gated {
    pub fn new(script: &str) -> Gated {
        let child = Command::new("sh")
            .args(["-c", "read _ && eval \"$1\"", "sh", script])
            .stdin(Stdio::piped())
            .spawn()
            .expect("spawn sh");
        Gated { child }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `ctrace ARGS --pid <this shell>`, attached and waiting for the script to run.
    pub fn tracer(&self, args: &[&str]) -> Tracer {
        let pid = self.pid().to_string();
        let mut all = args.to_vec();
        all.extend(["--pid", &pid]);
        Tracer::start(&all)
    }

    /// Runs the script and waits for it; panics if it failed.
    pub fn run(mut self) {
        let mut stdin = self.child.stdin.take().unwrap();
        stdin.write_all(b"go\n").unwrap();
        drop(stdin);
        let st = self.child.wait().unwrap();
        assert!(st.success(), "gated script failed: {st}");
    }
}

impl Drop for Gated {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A running `ctrace trace ...` whose stderr is watched for the "attached" line.
pub struct Tracer {
    child: Child,
    _tracefs: NodeLock,
    stderr_lines: mpsc::Receiver<String>,
    pub stderr: Vec<String>,
}

impl Tracer {
    /// `trace zombie` node-wide with a 1 s age threshold and a 500 ms interval, JSON on exit.
    pub fn zombie() -> Tracer {
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

    pub fn start(args: &[&str]) -> Tracer {
        Tracer::start_with(args, &[])
    }

    /// `start` with extra environment variables.
    pub fn start_with(args: &[&str], env: &[(&str, &str)]) -> Tracer {
        let tracefs = tracefs_in_use();
        // CTRACE_TEST_VERBOSE=1: ctrace's debug log, printed with a failing test's output.
        let verbose = std::env::var_os("CTRACE_TEST_VERBOSE").is_some();
        let mut child = Command::new(ctrace_bin())
            .args(verbose.then_some("-vv"))
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ctrace");
        let err = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut t = Tracer {
            child,
            _tracefs: tracefs,
            stderr_lines: rx,
            stderr: Vec::new(),
        };
        t.wait_for("attached", Duration::from_secs(60));
        t
    }

    /// Waits for a stderr line containing `needle`; panics with what was seen on timeout.
    pub fn wait_for(&mut self, needle: &str, timeout: Duration) {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.stderr_lines.recv_timeout(left) {
                Ok(line) => {
                    let hit = line.contains(needle);
                    self.stderr.push(line);
                    if hit {
                        return;
                    }
                }
                Err(_) => panic!(
                    "ctrace never printed {needle:?}; stderr: {:#?}",
                    self.stderr
                ),
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Closes ctrace's stdout from the reading side, as `| head` does once it has enough.
    pub fn close_stdout(&mut self) {
        drop(self.child.stdout.take());
    }

    /// SIGTERM, then the exit status (stdout is left unread).
    pub fn terminate(mut self) -> std::process::ExitStatus {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let status = self.child.wait().unwrap();
        while let Ok(l) = self.stderr_lines.recv_timeout(Duration::from_millis(200)) {
            self.stderr.push(l);
        }
        status
    }

    /// Waits for exit (after signals sent by the test), then the exit status.
    pub fn wait(mut self) -> std::process::ExitStatus {
        let status = self.child.wait().unwrap();
        while let Ok(l) = self.stderr_lines.recv_timeout(Duration::from_millis(200)) {
            self.stderr.push(l);
        }
        status
    }

    /// SIGINT, then the JSON report from stdout.
    pub fn stop_json(mut self) -> serde_json::Value {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        self.finish_json()
    }

    /// Waits for exit (e.g. after --duration), then the JSON report from stdout.
    pub fn finish_json(&mut self) -> serde_json::Value {
        let mut out = String::new();
        self.child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        let status = self.child.wait().unwrap();
        while let Ok(l) = self.stderr_lines.recv_timeout(Duration::from_millis(200)) {
            self.stderr.push(l);
        }
        if std::env::var_os("CTRACE_TEST_VERBOSE").is_some() {
            println!("ctrace's stderr:\n{}", self.stderr.join("\n"));
        }
        assert!(
            status.success(),
            "ctrace failed ({status}); stderr: {:#?}",
            self.stderr
        );
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("bad JSON ({e}): {out}"))
    }
}

/// A test that fails half-way must not leave its tracer attached.
impl Drop for Tracer {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Spawns a helper binary and waits for its first stdout line, which it prints once ready.
pub fn spawn_ready(bin: &str, args: &[&str]) -> (Child, String) {
    let mut child = Command::new(bin)
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {bin}: {e}"));
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    (child, line.trim().to_string())
}

/// Runs ctrace to completion: (exit code, stdout, stderr).
pub fn run_ctrace(args: &[&str]) -> (i32, String, String) {
    let _tracefs = tracefs_in_use();
    let out = Command::new(ctrace_bin())
        .args(args)
        .output()
        .expect("run ctrace");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The seccomp entries of a report's processes, as (pid, syscall name) -> count.
pub fn syscall_count(report: &serde_json::Value, pid: u32, syscall: &str) -> u64 {
    report["seccomp"]["processes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["pid"] == pid)
        .flat_map(|p| p["top"].as_array().into_iter().flatten())
        .filter(|s| s["syscall"] == syscall)
        .map(|s| s["count"].as_u64().unwrap_or(0))
        .sum()
}

/// The tier a report's probes of `problem` used ("tracepoint", "kprobe", "fentry").
pub fn probe_tier(report: &serde_json::Value, problem: &str) -> String {
    report["probes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["problem"] == problem)
        .and_then(|p| p["tier"].as_str())
        .unwrap_or_else(|| panic!("no {problem} probes in {report}"))
        .to_string()
}

/// Appends a measured comparison to $CTRACE_MEASURE_LOG (set by `xtask vm-test`, which prints
/// them under its table); a no-op otherwise.
pub fn record(line: &str) {
    eprintln!("measured: {line}");
    if let Ok(path) = std::env::var("CTRACE_MEASURE_LOG") {
        use std::io::Write as _;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .expect("open the measure log");
        let tier = std::env::var("CTRACE_TIER").unwrap_or_else(|_| "auto".into());
        writeln!(f, "[{tier}] {line}").expect("write the measure log");
    }
}
