//! The agent's HTTP side: /metrics (OpenMetrics), /findings and /report (JSON), /healthz.
//! One thread; every answer is prepared by the main loop, so a scrape never touches the kernel.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    thread::JoinHandle,
};

use anyhow::{Result, anyhow};
use prometheus_client::registry::Registry;
use tiny_http::{Header, Response, Server};

use super::metrics;

/// The JSON documents served, replaced each interval.
#[derive(Default)]
pub struct Documents {
    pub findings: String,
    pub report: String,
}

pub struct Http {
    server: Arc<Server>,
    thread: Option<JoinHandle<()>>,
}

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

fn header(value: &str) -> Header {
    Header::from_bytes("Content-Type", value).expect("static header is valid")
}

impl Http {
    pub fn start(
        addr: SocketAddr,
        registry: Registry,
        docs: Arc<Mutex<Documents>>,
    ) -> Result<Http> {
        let server =
            Arc::new(Server::http(addr).map_err(|e| anyhow!("cannot listen on {addr}: {e}"))?);
        let s = Arc::clone(&server);
        let thread = std::thread::spawn(move || {
            for req in s.incoming_requests() {
                let path = req.url().split('?').next().unwrap_or("").to_string();
                let doc = |pick: fn(&Documents) -> &String| {
                    let d = docs.lock().map(|d| pick(&d).clone()).unwrap_or_default();
                    Response::from_string(d).with_header(header("application/json"))
                };
                let resp = match path.as_str() {
                    "/metrics" => Response::from_string(metrics::encode(&registry))
                        .with_header(header(OPENMETRICS)),
                    "/findings" => doc(|d| &d.findings),
                    "/report" => doc(|d| &d.report),
                    "/healthz" => Response::from_string("ok\n"),
                    "/" => {
                        Response::from_string("ctrace serve: /metrics /findings /report /healthz\n")
                    }
                    _ => Response::from_string("not found\n").with_status_code(404),
                };
                let _ = req.respond(resp);
            }
        });
        Ok(Http {
            server,
            thread: Some(thread),
        })
    }

    pub fn addr(&self) -> String {
        self.server
            .server_addr()
            .to_ip()
            .map_or_else(|| "?".into(), |a| a.to_string())
    }

    pub fn stop(mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
