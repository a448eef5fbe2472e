//! sigpipe on the real kernel: a process named dockerd writing to a closed pipe or socket.

use std::{
    io::{BufRead, BufReader, Write},
    os::unix::process::ExitStatusExt as _,
    process::{Child, ChildStdin, Command, Stdio},
    time::Duration,
};

use serde_json::Value;
use tests::{Tracer, root};

struct Helper {
    child: Child,
    stdin: ChildStdin,
    out: BufReader<std::process::ChildStdout>,
}

impl Helper {
    fn start(args: &[&str]) -> Helper {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sigpipe-helper"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready");
        Helper { child, stdin, out }
    }
    fn step(&mut self) {
        self.stdin.write_all(b"go\n").unwrap();
        self.stdin.flush().unwrap();
    }
}

fn findings(report: &Value, pid: u32) -> Vec<&Value> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "sigpipe_delivered" && f["subject"]["pid"] == pid)
        .collect()
}

/// Long enough for ctrace's periodic scan to see the helper's fds while they are open.
const SCAN: Duration = Duration::from_millis(1200);

#[test]
fn dockerd_killed_by_sigpipe_on_a_pipe_is_critical() {
    if !root() {
        return;
    }
    let tracer = Tracer::start(&["trace", "sigpipe", "--json", "--interval", "500ms"]);
    let mut h = Helper::start(&["pipe"]);
    let pid = h.child.id();
    std::thread::sleep(SCAN);
    h.step();
    let status = h.child.wait().unwrap();
    assert_eq!(
        status.signal(),
        Some(libc::SIGPIPE),
        "the helper really died of SIGPIPE"
    );
    std::thread::sleep(Duration::from_millis(500));
    let report = tracer.stop_json();
    let f = findings(&report, pid);
    assert_eq!(f.len(), 1, "{report:#}");
    assert_eq!(f[0]["severity"], "critical");
    let e = &f[0]["evidence"];
    assert_eq!(e["outcome"], "fatal");
    assert_eq!(e["fd_kind"], "pipe");
    assert_eq!(e["syscall"], "write");
    assert_eq!(e["died"], true);
    assert_eq!(f[0]["subject"]["comm"], "dockerd");
}

#[test]
fn ignored_sigpipe_is_a_warning_with_the_epipe_count() {
    if !root() {
        return;
    }
    let tracer = Tracer::start(&["trace", "sigpipe", "--json", "--interval", "500ms"]);
    let mut h = Helper::start(&["pipe", "ignore"]);
    let pid = h.child.id();
    std::thread::sleep(SCAN);
    h.step();
    let mut line = String::new();
    h.out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "survived");
    std::thread::sleep(Duration::from_millis(500));
    let report = tracer.stop_json();
    drop(h.stdin);
    h.child.wait().unwrap();
    let f = findings(&report, pid);
    assert_eq!(f.len(), 1, "{report:#}");
    assert_eq!(f[0]["severity"], "warning");
    assert_eq!(f[0]["evidence"]["epipe_count"], 5);
    assert_eq!(f[0]["evidence"]["died"], false);
    assert_eq!(f[0]["evidence"]["fd_kind"], "pipe");
}

#[test]
fn unix_socket_peer_path_is_reported() {
    if !root() {
        return;
    }
    let path = std::env::temp_dir().join(format!("ctrace-sigpipe-{}.sock", std::process::id()));
    let path = path.to_str().unwrap().to_string();
    let tracer = Tracer::start(&["trace", "sigpipe", "--json", "--interval", "500ms"]);
    let mut h = Helper::start(&["unix", &path]);
    let pid = h.child.id();
    // No wait for ctrace's fd scan: the peer's path is read in the kernel at the write (the
    // peer is closed and the writer dead before user space could look).
    h.step(); // the peer closes
    std::thread::sleep(Duration::from_millis(100));
    h.step(); // the helper writes
    let status = h.child.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGPIPE));
    std::thread::sleep(Duration::from_millis(500));
    let report = tracer.stop_json();
    let f = findings(&report, pid);
    assert_eq!(f.len(), 1, "{report:#}");
    let e = &f[0]["evidence"];
    assert_eq!(e["fd_kind"], "unix");
    assert_eq!(e["fd_peer"], path.as_str());
    assert_eq!(f[0]["severity"], "critical");
}

#[test]
fn unwatched_process_is_counted_without_a_finding() {
    if !root() {
        return;
    }
    let tracer = Tracer::start(&["trace", "sigpipe", "--json", "--interval", "500ms"]);
    // `yes` writes to a pipe whose reader (head) exits: a SIGPIPE to an unwatched process.
    let st = Command::new("sh")
        .args(["-c", "yes | head -n 1 >/dev/null"])
        .status()
        .unwrap();
    assert!(st.success());
    std::thread::sleep(Duration::from_millis(500));
    let report = tracer.stop_json();
    let s = &report["sigpipe"];
    assert!(s["by_comm"]["yes"].as_u64().unwrap_or(0) >= 1, "{s:#}");
    assert!(
        !report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["kind"] == "sigpipe_delivered" && f["subject"]["comm"] == "yes")
    );
}

/// A real dockerd of the test's own (fixed paths under /run: hold `node_lock("sigpipe-dockerd")`)
/// whose stdout and stderr are a pipe the test reads.
struct OwnDockerd {
    child: Child,
    sock: String,
    dir: std::path::PathBuf,
    /// The reading end of its log, once it listens.
    log: Option<std::fs::File>,
}

impl OwnDockerd {
    fn start() -> OwnDockerd {
        use std::os::fd::{FromRawFd as _, OwnedFd};
        tests::docker::install_if_missing();
        let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../target/ctrace-sigpipe-dockerd");
        std::fs::create_dir_all(&dir).unwrap();
        let sock = "/run/ctrace-sigpipe-docker.sock".to_string();
        let mut p = [0i32; 2];
        // Close-on-exec: no child (dockerd itself, ctrace, docker) may hold the reading end.
        assert_eq!(unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        let (read_end, write_end) =
            unsafe { (OwnedFd::from_raw_fd(p[0]), OwnedFd::from_raw_fd(p[1])) };
        let child = Command::new("dockerd")
            .args([
                "--debug",
                "--iptables=false",
                "--bridge=none",
                "-H",
                &format!("unix://{sock}"),
                "--data-root",
            ])
            .arg(dir.join("data"))
            .args([
                "--exec-root",
                "/run/ctrace-sigpipe-exec",
                "--pidfile",
                "/run/ctrace-sigpipe-dockerd.pid",
            ])
            .stdout(Stdio::from(write_end.try_clone().unwrap()))
            .stderr(Stdio::from(write_end))
            .spawn()
            .unwrap();
        // Drain the log while dockerd starts, so that it never blocks on a full pipe.
        let reader = std::fs::File::from(read_end);
        let draining = std::thread::spawn(move || {
            let mut r = BufReader::new(reader);
            let mut line = String::new();
            while r.read_line(&mut line).is_ok_and(|n| n > 0) {
                if line.contains("API listen on") {
                    return r.into_inner();
                }
                line.clear();
            }
            panic!("dockerd exited before listening");
        });
        let log = Some(draining.join().unwrap());
        OwnDockerd {
            child,
            sock,
            dir,
            log,
        }
    }

    /// Reads its log to the end in the background: it never hits a closed or full pipe.
    fn keep_draining(&mut self) {
        let mut log = self.log.take().unwrap();
        std::thread::spawn(move || std::io::copy(&mut log, &mut std::io::sink()));
    }

    fn docker(&self, args: &[&str]) -> Command {
        let mut c = Command::new("docker");
        c.args(["-H", &format!("unix://{}", self.sock)]).args(args);
        c
    }

    fn stop(mut self) {
        if self.child.try_wait().unwrap().is_none() {
            unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
            self.child.wait().unwrap();
        }
        let _ = Command::new("umount").arg(self.dir.join("data")).status();
    }
}

/// A `docker events` client killed mid-stream: dockerd's next write to that connection fails.
/// That is a client going away, not a lost log: info, without advice to restart dockerd.
#[test]
fn killed_docker_events_client_is_not_a_lost_log() {
    if !root() {
        return;
    }
    let _own_dockerd = tests::node_lock("sigpipe-dockerd");
    let mut d = OwnDockerd::start();
    d.keep_draining();
    let tracer = Tracer::start(&["trace", "sigpipe", "--json", "--interval", "500ms"]);
    let mut events = d.docker(&["events"]).stdout(Stdio::null()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    events.kill().unwrap();
    events.wait().unwrap();
    // Events for the dead subscriber: dockerd writes them to its connection.
    for i in 0..5 {
        let name = format!("ctrace-sigpipe-ev{i}");
        let _ = d.docker(&["volume", "create", &name]).output();
        let _ = d.docker(&["volume", "rm", &name]).output();
    }
    std::thread::sleep(Duration::from_millis(500));
    let alive = d.child.try_wait().unwrap().is_none();
    let report = tracer.stop_json();
    let pid = d.child.id();
    d.stop();
    assert!(alive, "dockerd survived its client going away");
    let f = findings(&report, pid);
    eprintln!("dockerd findings: {f:#?}");
    assert_eq!(f.len(), 1, "the broken client connection: {report:#}");
    assert_eq!(f[0]["severity"], "info");
    let e = &f[0]["evidence"];
    assert_eq!(e["fd_role"], "client", "{e:#}");
    assert_eq!(e["died"], false);
    assert!(e["fd"].as_i64().unwrap() > 2);
    let fix = f[0]["remediation"].as_str().unwrap();
    assert!(
        !fix.contains("restart it") && !fix.contains("Restart "),
        "{fix}"
    );
}

/// The control: dockerd's own log pipe (fd 1 and 2) closes, and its next log line (a debug
/// line per API call) hits the broken pipe. ctrace's verdict must match what really happened to
/// it, and name the fd its log, with the restart advice.
#[test]
fn real_dockerd_with_a_closed_log_pipe() {
    if !root() {
        return;
    }
    let _own_dockerd = tests::node_lock("sigpipe-dockerd");
    let mut d = OwnDockerd::start();
    let tracer = Tracer::start(&["trace", "sigpipe", "--json", "--interval", "500ms"]);
    std::thread::sleep(SCAN);
    drop(d.log.take()); // journald "restarts": nobody reads dockerd's log any more
    for _ in 0..3 {
        let _ = d.docker(&["version"]).output();
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(500));
    let died = d.child.try_wait().unwrap();
    let report = tracer.stop_json();
    let pid = d.child.id();
    d.stop();

    let f = findings(&report, pid);
    assert_eq!(
        f.len(),
        1,
        "dockerd's broken log pipe must raise one finding: {report:#}"
    );
    eprintln!(
        "real dockerd: exit {died:?}; ctrace: {} {}",
        f[0]["severity"], f[0]["evidence"]
    );
    match died.and_then(|s| s.signal()) {
        Some(sig) => {
            assert_eq!(sig, libc::SIGPIPE, "dockerd died of another signal");
            assert_eq!(f[0]["severity"], "critical");
            assert_eq!(f[0]["evidence"]["died"], true);
        }
        None => {
            assert!(died.is_none(), "dockerd exited on its own: {died:?}");
            assert_eq!(f[0]["severity"], "warning", "dockerd survived: {:#}", f[0]);
            assert_eq!(f[0]["evidence"]["died"], false);
            assert!(f[0]["evidence"]["epipe_count"].as_u64().unwrap() > 0);
        }
    }
    assert_eq!(f[0]["evidence"]["fd_kind"], "pipe");
    assert_eq!(f[0]["evidence"]["fd_role"], "log");
    assert!(f[0]["remediation"].as_str().unwrap().contains("estart"));
}

/// A `docker logs -f` client killed while the container keeps logging: dockerd's next write of
/// a log line to that client's connection fails. A client going away: info, no restart advice.
#[test]
fn killed_docker_logs_client_is_not_a_lost_log() {
    if !root() {
        return;
    }
    let docker = tests::docker::Docker::start();
    let pid: u32 = ["/run/ctrace-docker.pid", "/var/run/docker.pid"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok()?.trim().parse().ok())
        .expect("dockerd's pidfile");
    let name = "ctrace-sigpipe-logs";
    docker.run(
        name,
        &[],
        &["sh", "-c", "while :; do echo line; sleep 0.1; done"],
    );
    let tracer = Tracer::start(&["trace", "sigpipe", "--json", "--interval", "500ms"]);
    let mut logs = Command::new("docker")
        .args(["logs", "-f", name])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    logs.kill().unwrap();
    logs.wait().unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    let report = tracer.stop_json();
    docker.rm(name);
    let f = findings(&report, pid);
    eprintln!("dockerd findings: {f:#?}");
    assert_eq!(f.len(), 1, "the broken client connection: {report:#}");
    assert_eq!(f[0]["severity"], "info");
    assert_eq!(f[0]["evidence"]["fd_role"], "client");
    let fix = f[0]["remediation"].as_str().unwrap();
    assert!(
        !fix.contains("restart it") && !fix.contains("Restart "),
        "{fix}"
    );
}
