//! Bad input gets one clear line on stderr and a non-zero exit.

use std::os::unix::{fs::PermissionsExt as _, process::CommandExt as _};
use std::process::Command;

use tests::{ctrace_bin, root, run_ctrace};

fn one_line(stderr: &str) -> &str {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line, got: {stderr:?}");
    lines[0]
}

#[test]
fn unknown_subcommand() {
    let (code, _, err) = run_ctrace(&["frobnicate"]);
    assert_eq!(code, 2);
    assert!(
        one_line(&err).contains("unrecognized subcommand 'frobnicate'"),
        "{err}"
    );
}

#[test]
fn unknown_problem() {
    let (code, _, err) = run_ctrace(&["trace", "bogus"]);
    assert_eq!(code, 2);
    assert!(one_line(&err).contains("invalid value 'bogus'"), "{err}");
}

#[test]
fn bad_duration() {
    let (code, _, err) = run_ctrace(&["trace", "--duration", "soon"]);
    assert_eq!(code, 2);
    one_line(&err);
}

#[test]
fn unknown_pid() {
    if !root() {
        return;
    }
    let (code, _, err) = run_ctrace(&["trace", "--pid", "999999999", "--duration", "1s"]);
    assert_eq!(code, 2, "what the user typed: {err}");
    assert!(one_line(&err).contains("unknown pid: 999999999"), "{err}");
}

#[test]
fn unknown_container() {
    if !root() {
        return;
    }
    let (code, _, err) = run_ctrace(&[
        "trace",
        "--container",
        "no-such-container-xyz",
        "--duration",
        "1s",
    ]);
    assert_eq!(code, 2, "what the user typed: {err}");
    assert!(
        one_line(&err).contains("unknown container: no-such-container-xyz"),
        "{err}"
    );
}

#[test]
fn comm_too_long() {
    if !root() {
        return;
    }
    let (code, _, err) = run_ctrace(&[
        "trace",
        "--comm",
        "a-very-long-command-name",
        "--duration",
        "1s",
    ]);
    assert_eq!(code, 2);
    assert!(one_line(&err).contains("--comm"), "{err}");
}

#[test]
fn not_root() {
    if !root() {
        return; // needs root to drop to another user
    }
    // The checkout may be where nobody else can reach it (under /root): the unprivileged user
    // runs a copy from a directory of its own.
    let dir = std::env::temp_dir().join(format!("ctrace-not-root-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bin = dir.join("ctrace");
    std::fs::copy(ctrace_bin(), &bin).unwrap();
    for p in [&dir, &bin] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let as_nobody = |args: &[&str]| {
        Command::new(&bin)
            .args(args)
            .current_dir("/")
            .uid(65534)
            .gid(65534)
            .output()
            .unwrap()
    };
    let out = as_nobody(&["trace", "--duration", "1s"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(one_line(&err).contains("must run as root"), "{err}");
    // doctor runs what needs no privilege and marks the rest.
    let out = as_nobody(&["doctor", "--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let status = |name: &str| {
        doc["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .map(|c| c["status"].as_str().unwrap().to_string())
    };
    assert_eq!(status("kernel").as_deref(), Some("ok"), "{doc:#}");
    assert_eq!(status("cgroup").as_deref(), Some("ok"), "{doc:#}");
    assert_eq!(status("attach").as_deref(), Some("skip"), "{doc:#}");
    assert_eq!(status("tracefs").as_deref(), Some("skip"), "{doc:#}");
    assert!(
        !doc["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["status"] == "fail"),
        "{doc:#}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn doctor_json_reports_attach_types() {
    if !root() {
        return;
    }
    let (code, out, err) = run_ctrace(&["doctor", "--json"]);
    assert!(code == 0 || code == 1, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let checks = doc["checks"].as_array().unwrap();
    let status = |name: &str| {
        checks
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no {name} check in {out}"))["status"]
            .as_str()
            .unwrap()
            .to_string()
    };
    for name in [
        "attach:tracepoint",
        "attach:raw_tp",
        "attach:tp_btf",
        "attach:fentry",
        "attach:kprobe",
    ] {
        assert!(["ok", "warn", "fail"].contains(&status(name).as_str()));
    }
    // Every problem works on tracepoints, so the tracepoint tier must load here.
    assert_eq!(status("attach:tracepoint"), "ok");
    assert_eq!(status("tracefs"), "ok");
    // sem: the host IPC namespace against its limits.
    let own_ns = std::fs::metadata("/proc/self/ns/ipc").unwrap();
    let sem = format!(
        "sem:ipc_ns {}",
        std::os::unix::fs::MetadataExt::ino(&own_ns)
    );
    assert!(["ok", "fail"].contains(&status(&sem).as_str()));
    // Each problem's maps after load are within the maximum doctor states for them.
    let mib = |s: &str| s.trim_end_matches(" MiB").parse::<f64>().unwrap();
    for c in checks
        .iter()
        .filter(|c| c["name"].as_str().unwrap().starts_with("bpf:maps:") && c["status"] == "ok")
    {
        let d = c["detail"].as_str().unwrap();
        let after = mib(d.split(" after load").next().unwrap());
        let most = mib(d
            .split("at most ")
            .nth(1)
            .unwrap()
            .split(" when")
            .next()
            .unwrap());
        assert!(after <= most, "{d}");
    }
    assert!(["ok", "warn"].contains(&status("zombie:pid1").as_str()));
    assert!(["ok", "warn"].contains(&status("zombie:now").as_str()));
    assert!(
        ["v1", "hybrid", "v2"]
            .iter()
            .any(|l| out.contains(&format!("\"detail\": \"{l}\"")))
    );
}

#[test]
fn serve_on_a_port_in_use() {
    if !root() {
        return;
    }
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (code, _, err) = run_ctrace(&["serve", "--listen", &addr, "--duration", "1s"]);
    assert_eq!(code, 1);
    assert!(
        one_line(&err).contains(&format!("cannot listen on {addr}")),
        "{err}"
    );
}

#[test]
fn serve_rejects_json_and_bad_addresses() {
    let (code, _, err) = run_ctrace(&["serve", "--listen", "nowhere"]);
    assert_eq!(code, 2);
    assert!(one_line(&err).contains("invalid value 'nowhere'"), "{err}");
    let (code, _, err) = run_ctrace(&["serve", "--problems", "sem,bogus"]);
    assert_eq!(code, 2);
    one_line(&err);
}

#[test]
fn a_duration_past_the_clock_runs_until_stopped() {
    if !root() {
        return;
    }
    // It once panicked right after the probes attached: overflow adding it to an Instant.
    let forever = "18446744073709551615s";
    let tracer = tests::Tracer::start(&["trace", "sem", "--json", "--duration", forever]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let report = tracer.stop_json();
    assert!(report["duration_s"].as_f64().unwrap() > 0.0, "{report:#}");
    let agent = tests::Tracer::start(&[
        "serve",
        "sem",
        "--listen",
        "127.0.0.1:0",
        "--duration",
        forever,
    ]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let status = agent.terminate();
    assert!(status.success(), "{status}");
}

#[test]
fn a_page_that_cannot_be_written_at_the_end_still_leaves_the_report_on_stdout() {
    use std::io::BufRead as _;
    if !root() {
        return;
    }
    let dir = tests::scratch_dir().join(format!("ctrace-html-gone-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let page = dir.join("out.html");
    let _tracefs = tests::tracefs_in_use();
    let mut child = Command::new(ctrace_bin())
        .args(["trace", "sem", "--json", "--duration", "2s", "--html"])
        .arg(&page)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    err.read_line(&mut first).unwrap();
    assert!(first.contains("attached"), "{first}");
    // The path was good at the start; its directory goes away during the trace.
    std::fs::remove_dir_all(&dir).unwrap();
    let out = child.wait_with_output().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut err, &mut rest).unwrap();
    assert_eq!(out.status.code(), Some(1), "{rest}");
    // Live lines first, then the error, last.
    let last = rest.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("ctrace: error:") && last.contains("out.html"),
        "{rest}"
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["sem"].is_object(), "{report:#}");
}

#[test]
fn serve_logs_a_deleted_token_file_with_the_token_in_force() {
    use std::os::unix::fs::PermissionsExt as _;
    if !root() {
        return;
    }
    let token = tests::scratch_dir().join(format!("ctrace-token-{}", std::process::id()));
    std::fs::write(&token, "0123456789abcdef-token\n").unwrap();
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut agent = tests::Tracer::start(&[
        "serve",
        "sem",
        "--listen",
        "127.0.0.1:0",
        "--interval",
        "200ms",
        "--auth-token-file",
        token.to_str().unwrap(),
    ]);
    std::fs::remove_file(&token).unwrap();
    // No request comes: the agent notices by itself, within intervals.
    agent.wait_for(
        "(22 characters) stays in force",
        std::time::Duration::from_secs(10),
    );
    assert!(agent.terminate().success());
}
