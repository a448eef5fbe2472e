//! A real Prometheus server scrapes `ctrace serve` on loopback, and a metric from a real event
//! in a real container (zombies under a PID 1 that never reaps) arrives with its container
//! label, as read back through Prometheus's own HTTP query API.

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use tests::{
    docker::Docker,
    prometheus::{free_port, install_if_missing, query, start_prometheus},
    root,
    serve::Agent,
};

const NAME: &str = "ctrace-prom-zombie";

#[test]
fn prometheus_scrapes_zombies_with_their_container_label() {
    if !root() {
        return;
    }
    install_if_missing();
    let docker = Docker::start();
    let agent = Agent::start("prometheus", &["zombie", "--interval", "500ms"]);
    let port = free_port();
    let _prom = start_prometheus(&agent.addr, port);
    // Subshells leave `sleep` orphaned; PID 1 then becomes `sleep 3600`, which never reaps.
    let cmd = ["sh", "-c", "(sleep 0.3 &); (sleep 0.3 &); exec sleep 3600"];
    let id = docker.run(NAME, &[], &cmd);

    // ctrace_zombies{container="ctrace-prom-zombie"}
    let q = "ctrace_zombies%7Bcontainer%3D%22ctrace-prom-zombie%22%7D";
    let deadline = Instant::now() + Duration::from_secs(90);
    let found = loop {
        if let Some(r) = query(port, q) {
            let v: f64 = r["value"][1].as_str().unwrap_or("0").parse().unwrap_or(0.0);
            if v >= 2.0 {
                break r;
            }
        }
        if Instant::now() > deadline {
            docker.rm(NAME);
            panic!(
                "Prometheus never had 2 zombies for {NAME}; ctrace said:\n{}",
                agent.get("/metrics").1
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    docker.rm(NAME);
    let labels = &found["metric"];
    assert_eq!(labels["job"], "ctrace");
    assert_eq!(labels["container_id"], id[..12], "{found:#}");
    assert_eq!(labels["parent_comm"], "sleep", "{found:#}");
    // The scrape itself is healthy: Prometheus's `up` for the job is 1.
    let up = query(port, "up%7Bjob%3D%22ctrace%22%7D").expect("no up series");
    assert_eq!(up["value"][1], "1");
    assert!(agent.tracer.terminate().success());
}

/// `promtool check metrics` reads the classic text format, which is what a plain request gets.
#[test]
fn promtool_finds_nothing_wrong_with_the_metrics() {
    if !root() {
        return;
    }
    install_if_missing();
    let agent = Agent::start("promtool", &["--interval", "300ms"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    let metrics = loop {
        let (code, body) = agent.get("/metrics");
        if code == 200 && body.contains("ctrace_syscalls_total{") {
            break body;
        }
        assert!(Instant::now() < deadline, "no metrics: {code} {body}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let mut check = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    check
        .stdin
        .take()
        .unwrap()
        .write_all(metrics.as_bytes())
        .unwrap();
    let out = check.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool: {said}\n{metrics}");
    assert!(said.trim().is_empty(), "promtool: {said}");
    assert!(agent.tracer.terminate().success());
}
