//! sigpipe analyzer: every SIGPIPE with its writer, fd, disposition and outcome; EPIPE counts;
//! journald restarts; the finding for watched daemons. Pure: fed recorded events.

use std::collections::BTreeMap;

use serde::Serialize;

pub use super::signal::{DEATH_WINDOW_S, Signal};
use super::{explain, fds::FdInfo};
use crate::{
    attrib::Origin,
    problem::finding_kind,
    shared::{Finding, Severity, Subject},
};

/// A journald restart this soon before a SIGPIPE is named as its likely cause.
pub const JOURNALD_WINDOW_S: f64 = 60.0;
const MAX_SIGNALS: usize = 10_000;
/// journald restarts remembered by a long-lived agent.
const JOURNALD_KEEP: usize = 64;

#[derive(Serialize, Debug, Clone)]
pub struct SignalRow {
    pub at: f64,
    pub pid: u32,
    pub tid: u32,
    pub comm: String,
    pub container_id: Option<String>,
    pub container_name: Option<String>,
    #[serde(flatten)]
    pub origin: crate::attrib::Origin,
    pub syscall: Option<String>,
    pub fd: Option<i32>,
    pub fd_info: Option<FdInfo>,
    pub size: u64,
    pub disposition: &'static str,
    pub outcome: &'static str,
    pub watched: Option<String>,
}

#[derive(Serialize, Debug, Clone)]
pub struct EpipeRow {
    pub pid: u32,
    pub comm: String,
    pub count: u64,
    pub syscall: Option<String>,
    pub fd: Option<i32>,
    pub fd_info: Option<FdInfo>,
}

/// The `sigpipe` section of the report.
#[derive(Serialize, Debug, Clone)]
pub struct SigpipeReport {
    pub sigpipes: usize,
    pub by_outcome: BTreeMap<&'static str, usize>,
    pub by_comm: BTreeMap<String, usize>,
    pub deaths: usize,
    pub journald_restarts: Vec<f64>,
    pub signals: Vec<SignalRow>,
    pub epipe: Vec<EpipeRow>,
}

#[derive(Default)]
pub struct Analyzer {
    pub signals: Vec<Signal>,
    epipe: BTreeMap<u32, EpipeRow>,
    epipe_counts: BTreeMap<u32, u64>,
    watched_epipe: BTreeMap<u32, String>,
    journald: Vec<f64>,
}

fn disposition(s: &Signal) -> &'static str {
    if s.ignored_at_generation {
        return "ignored";
    }
    match s.handler {
        Some(0) => "default",
        Some(1) => "ignored",
        Some(_) => "handled",
        None => "unknown",
    }
}

impl Analyzer {
    pub fn on_generate(&mut self, s: Signal) {
        if self.signals.len() < MAX_SIGNALS {
            self.signals.push(s);
        }
    }

    /// signal_deliver: the most recent undelivered SIGPIPE of that thread.
    pub fn on_deliver(&mut self, tid: u32, handler: u64) {
        if let Some(s) = self
            .signals
            .iter_mut()
            .rev()
            .find(|s| s.tid == tid && s.handler.is_none())
        {
            s.handler = Some(handler);
        }
    }

    pub fn on_exit(&mut self, tgid: u32, at: f64) {
        for s in self
            .signals
            .iter_mut()
            .filter(|s| s.tgid == tgid && s.exited_at.is_none())
        {
            s.exited_at = Some(at);
        }
    }

    pub fn on_epipe(&mut self, row: EpipeRow, watched: Option<String>) {
        if let Some(w) = watched {
            self.watched_epipe.insert(row.pid, w);
        }
        self.epipe.entry(row.pid).or_insert(row);
    }

    /// Totals from the kernel's per-process EPIPE counters.
    pub fn set_epipe_counts(&mut self, counts: BTreeMap<u32, u64>) {
        self.epipe_counts = counts;
    }

    /// Keeps the newest `keep` signals, never one of the first `absorbed` not yet counted
    /// elsewhere; drops per-process rows of processes gone. Returns the signals dropped.
    pub fn trim(&mut self, keep: usize, absorbed: usize, alive: impl Fn(u32) -> bool) -> usize {
        let n = self.signals.len().saturating_sub(keep).min(absorbed);
        self.signals.drain(..n);
        self.epipe.retain(|pid, _| alive(*pid));
        self.watched_epipe.retain(|pid, _| alive(*pid));
        let j = self.journald.len().saturating_sub(JOURNALD_KEEP);
        self.journald.drain(..j);
        n
    }

    pub fn on_journald(&mut self, at: f64) {
        self.journald.push(at);
    }

    fn epipe_count(&self, tgid: u32) -> u64 {
        self.epipe_counts
            .get(&tgid)
            .copied()
            .or_else(|| self.epipe.get(&tgid).map(|r| r.count))
            .unwrap_or(0)
    }

    pub fn report(&self) -> (SigpipeReport, Vec<Finding>) {
        let mut by_outcome = BTreeMap::new();
        let mut by_comm = BTreeMap::new();
        for s in &self.signals {
            *by_outcome.entry(s.outcome()).or_default() += 1;
            *by_comm.entry(s.comm.clone()).or_default() += 1;
        }
        let signals: Vec<SignalRow> = self
            .signals
            .iter()
            .map(|s| SignalRow {
                at: s.at,
                pid: s.tgid,
                tid: s.tid,
                comm: s.comm.clone(),
                container_id: s.container.as_ref().map(|c| c.id.clone()),
                container_name: s.container.as_ref().and_then(|c| c.name.clone()),
                origin: Origin::of(s.container.as_ref()),
                syscall: s.syscall.clone(),
                fd: s.fd,
                fd_info: s.fd_info.clone(),
                size: s.size,
                disposition: disposition(s),
                outcome: s.outcome(),
                watched: s.watched.clone(),
            })
            .collect();
        let epipe: Vec<EpipeRow> = self
            .epipe
            .values()
            .map(|r| EpipeRow {
                count: self.epipe_count(r.pid),
                ..r.clone()
            })
            .collect();
        let findings = self.findings();
        let report = SigpipeReport {
            sigpipes: self.signals.len(),
            by_outcome,
            by_comm,
            deaths: self.signals.iter().filter(|s| s.died()).count(),
            journald_restarts: self.journald.clone(),
            signals,
            epipe,
        };
        (report, findings)
    }

    /// One finding per watched process: critical when it died of SIGPIPE, a warning when it
    /// survived but its writes fail with EPIPE.
    fn findings(&self) -> Vec<Finding> {
        let mut by_proc: BTreeMap<u32, Vec<&Signal>> = BTreeMap::new();
        for s in self.signals.iter().filter(|s| s.watched.is_some()) {
            by_proc.entry(s.tgid).or_default().push(s);
        }
        let mut out = Vec::new();
        for (tgid, sigs) in &by_proc {
            let died = sigs.iter().find(|s| s.died());
            let epipes = self.epipe_count(*tgid);
            let key = died.copied().unwrap_or(sigs[sigs.len() - 1]);
            if died.is_none() && epipes == 0 {
                continue;
            }
            out.push(self.finding(key, died.is_some(), sigs.len(), epipes));
        }
        // Watched processes that never got the signal (it is blocked or ignored per thread)
        // but whose writes fail with EPIPE: logs are being lost too.
        for (tgid, why) in &self.watched_epipe {
            if by_proc.contains_key(tgid) {
                continue;
            }
            if let Some(r) = self.epipe.get(tgid) {
                let s = Signal {
                    tgid: *tgid,
                    tid: *tgid,
                    comm: r.comm.clone(),
                    syscall: r.syscall.clone(),
                    fd: r.fd,
                    fd_info: r.fd_info.clone(),
                    ignored_at_generation: true,
                    watched: Some(why.clone()),
                    ..Default::default()
                };
                out.push(self.finding(&s, false, 0, self.epipe_count(*tgid)));
            }
        }
        out
    }

    fn finding(&self, s: &Signal, died: bool, signals: usize, epipes: u64) -> Finding {
        let journald_before = self
            .journald
            .iter()
            .filter(|&&j| j <= s.at && s.at - j <= JOURNALD_WINDOW_S)
            .map(|j| s.at - j)
            .fold(None, |m: Option<f64>, d| Some(m.map_or(d, |m| m.min(d))));
        let evidence = serde_json::json!({
            "outcome": if died { "fatal" } else { s.outcome() },
            "disposition": disposition(s),
            "died": died,
            "signals": signals,
            "epipe_count": epipes,
            "syscall": s.syscall,
            "fd": s.fd,
            "fd_kind": s.fd_info.as_ref().map(|f| f.kind),
            "fd_inode": s.fd_info.as_ref().and_then(|f| f.inode),
            "fd_local": s.fd_info.as_ref().and_then(|f| f.local.clone()),
            "fd_peer": s.fd_info.as_ref().and_then(|f| f.peer.clone()),
            "write_size": s.size,
            "at": s.at,
            "journald_restart_s_before": journald_before,
            "watched_because": s.watched,
        });
        Finding {
            kind: finding_kind::SIGPIPE_DELIVERED,
            severity: if died {
                Severity::Critical
            } else {
                Severity::Warning
            },
            subject: Subject {
                pid: Some(s.tgid),
                comm: Some(s.comm.clone()),
                container_id: s.container.as_ref().map(|c| c.id.clone()),
                container_name: s.container.as_ref().and_then(|c| c.name.clone()),
                origin: Origin::of(s.container.as_ref()),
            },
            evidence,
            explanation: explain::explanation(s, died, epipes, journald_before),
            remediation: explain::remediation(s, died),
        }
    }
}

#[cfg(test)]
#[path = "analyzer_tests.rs"]
mod tests;
