//! A real Prometheus (Debian's package) on loopback, scraping one target every second, and its
//! HTTP query API.

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
};

use crate::serve::http_get;

pub fn install_if_missing() {
    crate::apt_install_unless("command -v prometheus", &["prometheus"]);
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct Prometheus(Child);

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn start_prometheus(target: &str, port: u16) -> Prometheus {
    let dir = std::env::temp_dir().join(format!("ctrace-prometheus-{}-{port}", std::process::id()));
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
pub fn query(port: u16, promql_encoded: &str) -> Option<serde_json::Value> {
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

/// Every result of an instant query (empty while Prometheus has none), or the error it gave.
pub fn query_all(port: u16, promql: &str) -> Result<Vec<serde_json::Value>, String> {
    let (code, body) = http_get(
        &format!("127.0.0.1:{port}"),
        &format!("/api/v1/query?query={}", encode(promql)),
    );
    let v: serde_json::Value =
        serde_json::from_str(&body).map_err(|e| format!("{code}: {e}: {body}"))?;
    if v["status"] != "success" {
        return Err(format!("{code}: {body}"));
    }
    Ok(v["data"]["result"].as_array().cloned().unwrap_or_default())
}

/// Percent-encodes a query string value.
pub fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Waits until Prometheus accepts connections on `port` (it takes a moment to start).
pub fn wait_ready(port: u16) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "Prometheus never listened on {port}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}
