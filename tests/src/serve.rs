//! A running `ctrace serve` on a free loopback port, and a minimal HTTP client for it.

use std::{
    io::{Read as _, Write as _},
    net::TcpStream,
    path::PathBuf,
    time::{Duration, Instant},
};

use crate::Tracer;

pub struct Agent {
    pub tracer: Tracer,
    pub addr: String,
    /// Where the agent appends its NDJSON findings.
    pub findings_out: PathBuf,
}

impl Agent {
    /// `ctrace serve --listen 127.0.0.1:0 ARGS`, once it says where it listens.
    pub fn start(name: &str, args: &[&str]) -> Agent {
        Agent::start_with(name, args, &[])
    }

    /// `start` with extra environment variables.
    pub fn start_with(name: &str, args: &[&str], env: &[(&str, &str)]) -> Agent {
        let findings_out = std::env::temp_dir().join(format!("ctrace-{name}.ndjson"));
        let _ = std::fs::remove_file(&findings_out);
        let out = findings_out.to_str().unwrap().to_string();
        let mut all = vec!["serve", "--listen", "127.0.0.1:0", "--findings-out", &out];
        all.extend_from_slice(args);
        let tracer = Tracer::start_with(&all, env);
        let line = tracer
            .stderr
            .iter()
            .find(|l| l.contains("serving http://"))
            .unwrap_or_else(|| panic!("no address in {:#?}", tracer.stderr))
            .clone();
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|r| r.split('/').next())
            .unwrap()
            .to_string();
        Agent {
            tracer,
            addr,
            findings_out,
        }
    }

    /// GET `path`; a failure panics with what each of the agent's threads was doing.
    pub fn get(&self, path: &str) -> (u16, String) {
        match try_request(&self.addr, "GET", path, &[]) {
            Ok((status, _, body)) => (status, body),
            Err(e) => panic!(
                "GET {path} from {}: {e}\nthe agent's threads:\n{}",
                self.addr,
                crate::threads::of(self.tracer.pid())
            ),
        }
    }

    /// Scrapes /metrics until `pred` holds for the text, or panics with the last scrape.
    pub fn wait_metrics(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let (code, body) = self.get("/metrics");
            if code == 200 && pred(&body) {
                return body;
            }
            if Instant::now() > deadline {
                panic!("/metrics never showed {what}; last scrape:\n{body}");
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// The NDJSON lines written so far.
    pub fn findings_lines(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.findings_out)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad NDJSON ({e}): {l}")))
            .collect()
    }
}

/// One GET over HTTP/1.0: (status, body).
pub fn http_get(addr: &str, path: &str) -> (u16, String) {
    let (status, _, body) = request(addr, "GET", path, &[]);
    (status, body)
}

/// One request over HTTP/1.0 with extra header lines: (status, response head, body).
pub fn request(addr: &str, method: &str, path: &str, headers: &[&str]) -> (u16, String, String) {
    try_request(addr, method, path, headers)
        .unwrap_or_else(|e| panic!("{method} {path} from {addr}: {e}"))
}

/// `request`, with a connection refused or a 10 s silence as an error.
pub fn try_request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[&str],
) -> std::io::Result<(u16, String, String)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut req = format!("{method} {path} HTTP/1.0\r\nHost: {addr}\r\n");
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())?;
    let mut raw = String::new();
    s.read_to_string(&mut raw)?;
    let status = raw
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    Ok((status, head.to_string(), body.to_string()))
}

/// The value of the first sample line that starts with `series` (name and labels).
pub fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}
