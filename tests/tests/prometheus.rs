//! A real Prometheus server scrapes `ctrace serve` on loopback, and a metric from a real event
//! in a real container (zombies under a PID 1 that never reaps) arrives with its container
//! label, as read back through Prometheus's own HTTP query API.

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use tests::{docker::Docker, root, serve::Agent, serve::http_get};

const NAME: &str = "ctrace-prom-zombie";

fn install_if_missing() {
    let have = Command::new("sh")
        .args(["-c", "command -v prometheus"])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if have {
        return;
    }
    eprintln!("tests: installing prometheus");
    for args in [
        &["update", "-q"][..],
        &[
            "install",
            "-y",
            "-q",
            "--no-install-recommends",
            "prometheus",
        ][..],
    ] {
        let st = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .expect("apt-get");
        assert!(st.success(), "apt-get {args:?} failed");
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Prometheus(Child);

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_prometheus(target: &str, port: u16) -> Prometheus {
    let dir = std::env::temp_dir().join(format!("ctrace-prometheus-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: ctrace\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .unwrap();
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("prometheus.log")).unwrap())
        .spawn()
        .expect("spawn prometheus");
    Prometheus(child)
}

/// The first result of an instant query, or None while Prometheus has no such series.
fn query(port: u16, promql_encoded: &str) -> Option<serde_json::Value> {
    let (code, body) = http_get(
        &format!("127.0.0.1:{port}"),
        &format!("/api/v1/query?query={promql_encoded}"),
    );
    if code != 200 {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(&body).ok()?;
    v["data"]["result"].as_array()?.first().cloned()
}

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
