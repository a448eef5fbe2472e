//! serve's HTTP side as anyone who reaches the port would meet it: authentication, methods,
//! a huge request head, many idle connections, a stalled main loop, a closed stdout.

use std::{
    io::{Read as _, Write as _},
    net::TcpStream,
    time::{Duration, Instant},
};

use tests::{
    root, run_ctrace,
    serve::{Agent, request},
};

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

/// Polls `path` until it answers `code`, or panics with the last answer.
fn wait_code(agent: &Agent, path: &str, code: u16, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let (c, body) = agent.get(path);
        if c == code {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{path}: {c} {body}, never {code}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn beyond_loopback_it_needs_a_token_or_a_plain_refusal_to_have_one() {
    if !root() {
        return;
    }
    let (code, _, err) = run_ctrace(&["serve", "--listen", "0.0.0.0:0", "--duration", "1s"]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("--auth-token-file"), "{err}");
    let (code, _, err) = run_ctrace(&[
        "serve",
        "zombie",
        "--listen",
        "0.0.0.0:0",
        "--allow-unauthenticated",
        "--duration",
        "1s",
    ]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn a_token_guards_everything_but_healthz() {
    if !root() {
        return;
    }
    let token = "ctrace-test-token-0123456789";
    let file = std::env::temp_dir().join(format!("ctrace-token-{}", std::process::id()));
    std::fs::write(&file, format!("{token}\n")).unwrap();
    let agent = Agent::start(
        "serve-token",
        &[
            "zombie",
            "--interval",
            "200ms",
            "--auth-token-file",
            file.to_str().unwrap(),
        ],
    );
    let bearer = format!("Authorization: Bearer {token}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while request(&agent.addr, "GET", "/findings", &[&bearer]).0 != 200 {
        assert!(Instant::now() < deadline, "no snapshot with the token");
        std::thread::sleep(Duration::from_millis(100));
    }
    for path in ["/metrics", "/findings", "/report"] {
        let (code, head, _) = request(&agent.addr, "GET", path, &[]);
        assert_eq!(code, 401, "{path} without a token");
        assert!(head.contains("www-authenticate: Bearer"), "{head}");
        let wrong = "Authorization: Bearer ctrace-test-token-0123456780";
        assert_eq!(request(&agent.addr, "GET", path, &[wrong]).0, 401);
        assert_eq!(
            request(&agent.addr, "GET", path, &[&bearer]).0,
            200,
            "{path}"
        );
    }
    // No token needed (200, or 503 if the loop is late on a loaded node).
    assert!([200, 503].contains(&agent.get("/healthz").0));
    assert!(agent.tracer.terminate().success());
    let _ = std::fs::remove_file(&file);
}

#[test]
fn only_get_and_head_are_answered() {
    if !root() {
        return;
    }
    let agent = Agent::start("serve-methods", &["zombie", "--interval", "200ms"]);
    wait_code(&agent, "/report", 200, Duration::from_secs(10));
    for method in ["POST", "DELETE", "PUT"] {
        let (code, head, _) = request(&agent.addr, method, "/report", &[]);
        assert_eq!(code, 405, "{method}");
        assert!(head.contains("allow: GET, HEAD"), "{head}");
    }
    let (code, _, body) = request(&agent.addr, "HEAD", "/report", &[]);
    assert_eq!(code, 200);
    assert!(body.is_empty(), "HEAD with a body");
    assert!(agent.tracer.terminate().success());
}

#[test]
fn a_huge_request_head_is_refused_early() {
    if !root() {
        return;
    }
    let agent = Agent::start("serve-huge", &["zombie", "--interval", "200ms"]);
    let before = rss_kib(agent.tracer.pid());
    let mut s = TcpStream::connect(&agent.addr).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ")
        .unwrap();
    // 100 MiB of header: serve must stop reading long before the end.
    let chunk = vec![b'a'; 1 << 20];
    let mut sent = 0usize;
    for _ in 0..100 {
        if s.write_all(&chunk).is_err() {
            break;
        }
        sent += chunk.len();
    }
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    assert!(
        sent < 100 << 20 || answer.starts_with("HTTP/1.1 431"),
        "serve read 100 MiB of header: {answer:?}"
    );
    let after = rss_kib(agent.tracer.pid());
    assert!(
        after < before + 16 * 1024,
        "serve's RSS grew from {before} KiB to {after} KiB"
    );
    // Still serving (not /healthz: on a loaded node the loop may be late, which is its business).
    assert_eq!(agent.get("/").0, 200);
    assert!(agent.tracer.terminate().success());
}

#[test]
fn idle_connections_do_not_block_metrics() {
    if !root() {
        return;
    }
    let agent = Agent::start(
        "serve-idle",
        &["zombie", "--interval", "200ms", "--max-connections", "300"],
    );
    wait_code(&agent, "/metrics", 200, Duration::from_secs(10));
    // More idle connections than the cap: the oldest idle ones make room.
    let idle: Vec<TcpStream> = (0..500)
        .map(|_| TcpStream::connect(&agent.addr).unwrap())
        .collect();
    let (code, body) = agent.get("/metrics");
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("ctrace_"), "{body}");
    let open_fds = std::fs::read_dir(format!("/proc/{}/fd", agent.tracer.pid()))
        .unwrap()
        .count();
    assert!(
        open_fds < 500,
        "serve holds {open_fds} fds with a cap of 300 connections"
    );
    drop(idle);
    assert!(agent.tracer.terminate().success());
}

#[test]
fn healthz_turns_503_while_the_loop_is_held() {
    if !root() {
        return;
    }
    let hold = std::env::temp_dir().join(format!("ctrace-hold-{}", std::process::id()));
    std::fs::write(&hold, "").unwrap();
    let agent = Agent::start_with(
        "serve-hold",
        &["zombie", "--interval", "300ms"],
        &[("CTRACE_TEST_HOLD_LOOP", hold.to_str().unwrap())],
    );
    // No snapshot was made yet: the documents are not there, and say so.
    assert_eq!(agent.get("/findings").0, 503);
    assert_eq!(agent.get("/metrics").0, 503);
    // Three intervals and a second of grace: the loop is declared stalled.
    wait_code(&agent, "/healthz", 503, Duration::from_secs(10));
    std::fs::remove_file(&hold).unwrap();
    wait_code(&agent, "/healthz", 200, Duration::from_secs(10));
    wait_code(&agent, "/findings", 200, Duration::from_secs(10));
    assert!(agent.tracer.terminate().success());
}

#[test]
fn a_closed_stdout_does_not_end_serve() {
    if !root() {
        return;
    }
    // Findings go to stdout, whose reader goes away at once.
    let mut tracer = tests::Tracer::start(&[
        "serve",
        "zombie",
        "--zombie-age",
        "1s",
        "--listen",
        "127.0.0.1:0",
        "--interval",
        "200ms",
    ]);
    tracer.close_stdout();
    let addr = tracer
        .stderr
        .iter()
        .find_map(|l| l.split("http://").nth(1)?.split('/').next())
        .unwrap()
        .to_string();
    // A PID 1 that never reaps: a finding to write to the closed stdout, and then to serve.
    let (mut helper, line) = tests::spawn_ready(
        env!("CARGO_BIN_EXE_zombie-helper"),
        &["ns-tree", "noreap", "2"],
    );
    let init: i32 = line.strip_prefix("ready ").unwrap().parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (code, body) = tests::serve::http_get(&addr, "/findings");
        if code == 200 && body.contains(&format!("\"pid1_pid\": {init}")) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no zombie finding: {code} {body}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // The failed write is counted where an operator looks.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, m) = tests::serve::http_get(&addr, "/metrics");
        if tests::serve::sample(&m, "ctrace_findings_stream_errors_total").unwrap_or(0.0) >= 1.0 {
            break;
        }
        assert!(Instant::now() < deadline, "stream errors not counted: {m}");
        std::thread::sleep(Duration::from_millis(200));
    }
    unsafe { libc::kill(init, libc::SIGKILL) };
    helper.wait().unwrap();
    assert!(
        tracer.terminate().success(),
        "serve died of its closed stdout"
    );
}
