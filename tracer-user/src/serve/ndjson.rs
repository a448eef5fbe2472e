//! Findings as a stream: one JSON line when a finding appears and one when it goes away, to
//! stdout or appended to a file, for log shippers.

use std::{
    collections::BTreeMap,
    fs::OpenOptions,
    io::{LineWriter, Write},
    os::unix::fs::OpenOptionsExt as _,
};

use anyhow::Result;
use serde_json::json;

use crate::shared::Finding;

pub struct Stream {
    out: Box<dyn Write + Send>,
    /// The file appended to; None for stdout.
    path: Option<String>,
    active: BTreeMap<String, Finding>,
    /// Set after a failed write: a reader that went away (a closed pipe, a full disk) must not
    /// take the agent down with it, the very failure ctrace reports for dockerd. A file is
    /// reopened at the next interval; stdout stays closed.
    broken: bool,
    /// Failed writes so far (`ctrace_findings_stream_errors_total`); the first is logged.
    pub errors: u64,
}

fn open_file(path: &str) -> Result<Box<dyn Write + Send>> {
    // O_NONBLOCK: a fifo nobody reads fails at once (ENXIO) instead of hanging the start.
    let f = OpenOptions::new()
        .create(true)
        .append(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| {
            crate::out::Usage(format!(
                "--findings-out {path}: cannot open it for appending: {e}"
            ))
        })?;
    crate::input::blocking(&f)?;
    Ok(Box::new(LineWriter::new(f)))
}

impl Stream {
    /// "-" is stdout; anything else is a file, appended to.
    pub fn open(path: &str) -> Result<Stream> {
        if path == "-" {
            return Ok(Stream::with_writer(Box::new(LineWriter::new(
                std::io::stdout(),
            ))));
        }
        let mut s = Stream::with_writer(open_file(path)?);
        s.path = Some(path.to_string());
        Ok(s)
    }

    fn with_writer(out: Box<dyn Write + Send>) -> Stream {
        Stream {
            out,
            path: None,
            active: BTreeMap::new(),
            broken: false,
            errors: 0,
        }
    }

    fn write(&mut self, line: serde_json::Value) -> bool {
        if self.broken {
            return false;
        }
        if let Err(e) = writeln!(self.out, "{line}") {
            if self.errors == 0 {
                crate::say!(
                    "ctrace: findings stream: {e}; counted in ctrace_findings_stream_errors_total, /findings keeps serving them{}",
                    if self.path.is_some() {
                        ", the file is reopened"
                    } else {
                        ""
                    }
                );
            }
            self.errors += 1;
            self.broken = true;
            return false;
        }
        true
    }

    /// A file that failed is opened again (rotated away, a disk that has room again).
    fn reopen(&mut self) {
        if !self.broken {
            return;
        }
        if let Some(Ok(out)) = self.path.as_deref().map(open_file) {
            self.out = out;
            self.broken = false;
        }
    }

    /// Writes the findings that are new since the last call and those that went away;
    /// returns how many lines were written.
    /// New findings of some problems, as soon as their records arrived: "finding" lines only
    /// (what resolved is told by the next `update`, which sees every problem).
    pub fn add(&mut self, findings: &[Finding], now: f64) -> usize {
        self.reopen();
        let mut written = 0;
        for f in findings {
            let id = f.identity();
            if self.active.contains_key(&id) {
                continue;
            }
            if self.write(json!({"ts": now, "event": "finding", "finding": f})) {
                written += 1;
            }
            self.active.insert(id, f.clone());
        }
        written
    }

    pub fn update(&mut self, findings: &[Finding], now: f64) -> usize {
        self.reopen();
        let current: BTreeMap<String, &Finding> =
            findings.iter().map(|f| (f.identity(), f)).collect();
        let mut lines = Vec::new();
        for (id, f) in &current {
            if !self.active.contains_key(id) {
                lines.push(json!({"ts": now, "event": "finding", "finding": f}));
            }
        }
        for (id, f) in &self.active {
            if !current.contains_key(id) {
                lines.push(json!({"ts": now, "event": "resolved", "finding": f}));
            }
        }
        let written = lines.into_iter().filter(|l| self.write(l.clone())).count();
        self.active = current.into_iter().map(|(id, f)| (id, f.clone())).collect();
        written
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::{Severity, Subject};

    fn finding(kind: &'static str, pid: u32, n: u64) -> Finding {
        Finding {
            kind,
            severity: Severity::Warning,
            subject: Subject {
                pid: Some(pid),
                ..Default::default()
            },
            evidence: json!({ "n": n }),
            explanation: String::new(),
            remediation: String::new(),
        }
    }

    #[test]
    fn a_finding_is_written_once_then_once_more_when_it_goes_away() {
        let path = std::env::temp_dir().join(format!("ctrace-ndjson-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let mut s = Stream::open(path.to_str().unwrap()).unwrap();
        assert_eq!(s.update(&[finding("sem_leak", 1, 1)], 1.0), 1);
        // Same finding, new numbers: not new.
        assert_eq!(s.update(&[finding("sem_leak", 1, 2)], 2.0), 0);
        assert_eq!(s.update(&[], 3.0), 1);
        drop(s);
        let text = std::fs::read_to_string(&path).unwrap();
        let events: Vec<String> = text
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["event"].to_string())
            .collect();
        assert_eq!(events, ["\"finding\"", "\"resolved\""]);
        let _ = std::fs::remove_file(&path);
    }

    /// A writer that fails like a pipe whose reader went away.
    struct Closed;
    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_closed_reader_stops_the_stream_but_not_the_agent() {
        let mut s = Stream::with_writer(Box::new(Closed));
        assert_eq!(s.update(&[finding("sem_leak", 1, 1)], 1.0), 0);
        assert!(s.broken);
        assert_eq!(s.errors, 1);
        // Findings are still tracked, so /findings and later resolves stay right.
        assert_eq!(s.active.len(), 1);
        assert_eq!(s.update(&[], 2.0), 0);
        assert!(s.active.is_empty());
    }
}
