//! Every panel of the Grafana dashboard in docs/deploy returns data from a real Prometheus
//! scraping a real `ctrace serve`, while real work moves every problem's metrics.

use std::{
    path::PathBuf,
    process::Command,
    time::{Duration, Instant},
};

use serde_json::Value;
use tests::{prometheus, root, serve::Agent};

/// Work that makes every problem's metrics move: copy-ups on an overlay mount of our own,
/// SIGPIPEs (`yes | head -1`), a semaphore set, and zombies under a PID 1 that never reaps.
struct Churn {
    overlay: tests::overlay::Mount,
    zombies: std::process::Child,
    semid: Option<String>,
    next: usize,
    _keys: tests::NodeLock,
}

impl Churn {
    fn start() -> Churn {
        let overlay = tests::overlay::Mount::new("html-grafana", "", |lower| {
            for i in 0..200 {
                std::fs::write(lower.join(format!("f{i}")), vec![1u8; 64 << 10]).unwrap();
            }
        });
        // Orphaned sleeps are reparented to the namespace's PID 1, `sleep 300`, which never reaps.
        let zombies = Command::new("unshare")
            .args(["--pid", "--fork", "--kill-child", "sh", "-c"])
            .arg("(sleep 0.2 &); (sleep 0.2 &); (sleep 0.2 &); exec sleep 300")
            .spawn()
            .expect("unshare");
        let keys = tests::node_lock("sysv-sem");
        let out = Command::new("ipcmk").args(["-S", "1"]).output().unwrap();
        let semid = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .last()
            .map(str::to_string);
        Churn {
            overlay,
            zombies,
            semid,
            next: 0,
            _keys: keys,
        }
    }

    /// One more copy-up and one more SIGPIPE.
    fn tick(&mut self) {
        let f = self.overlay.merged(&format!("f{}", self.next % 200));
        self.next += 1;
        let _ = std::fs::OpenOptions::new()
            .append(true)
            .open(&f)
            .and_then(|mut f| std::io::Write::write_all(&mut f, b"x"));
        let _ = Command::new("sh")
            .args(["-c", "yes | head -1 >/dev/null"])
            .status();
    }
}

impl Drop for Churn {
    fn drop(&mut self) {
        let _ = self.zombies.kill();
        let _ = self.zombies.wait();
        if let Some(id) = &self.semid {
            let _ = Command::new("ipcrm").args(["-s", id]).status();
        }
    }
}

/// Every panel of docs/deploy/grafana-dashboard.json, its PromQL run against a real Prometheus
/// scraping a real `ctrace serve`, returns data; and there is a row per problem.
#[test]
fn every_grafana_panel_returns_data_from_a_real_serve() {
    if !root() {
        return;
    }
    prometheus::install_if_missing();
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/deploy/grafana-dashboard.json");
    let dash: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let panels = dash["panels"].as_array().expect("panels");
    let rows: Vec<&str> = panels
        .iter()
        .filter(|p| p["type"] == "row")
        .filter_map(|p| p["title"].as_str())
        .collect();
    for problem in ["seccomp", "overlay", "sigpipe", "sem", "zombie"] {
        assert!(
            rows.iter().any(|r| r.starts_with(problem)),
            "no row for {problem}: {rows:?}"
        );
    }
    // (panel title, PromQL as Grafana would send it with every container selected)
    let queries: Vec<(String, String)> = panels
        .iter()
        .filter(|p| p["type"] != "row")
        .flat_map(|p| {
            p["targets"].as_array().unwrap().iter().map(|t| {
                let expr = t["expr"]
                    .as_str()
                    .unwrap()
                    .replace("$__rate_interval", "1m")
                    .replace("$container", ".*");
                (p["title"].as_str().unwrap().to_string(), expr)
            })
        })
        .collect();
    assert!(queries.len() >= 5, "{queries:?}");

    let agent = Agent::start(
        "html-grafana",
        &[
            "--interval",
            "500ms",
            "--sem-leak-age",
            "1s",
            "--zombie-age",
            "1s",
        ],
    );
    let port = prometheus::free_port();
    let _prom = prometheus::start_prometheus(&agent.addr, port);
    prometheus::wait_ready(port);
    let mut churn = Churn::start();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut missing: Vec<(String, String)>;
    loop {
        churn.tick();
        missing = queries
            .iter()
            .filter(|(_, q)| match prometheus::query_all(port, q) {
                Ok(r) => r.is_empty(),
                Err(e) => panic!("Prometheus refused {q}: {e}"),
            })
            .cloned()
            .collect();
        if missing.is_empty() || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let metrics = agent.get("/metrics").1;
    drop(churn);
    assert!(agent.tracer.terminate().success());
    assert!(
        missing.is_empty(),
        "panels without data: {missing:#?}\nctrace's /metrics:\n{metrics}"
    );
}
