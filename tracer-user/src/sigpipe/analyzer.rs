//! sigpipe analyzer: every SIGPIPE with its writer, fd, disposition and outcome; EPIPE counts;
//! journald restarts; the finding for watched daemons. Pure: fed recorded events.

use std::collections::BTreeMap;

use serde::Serialize;

pub use super::signal::{Signal, fd_role};
use tracer_common::sigpipe::SIGPIPE;

use super::{fds::FdInfo, kernel::Totals};

#[path = "analyzer_findings.rs"]
mod findings;
use crate::{attrib::Origin, shared::Finding};

/// A journald restart this soon before a SIGPIPE is named as its likely cause.
pub const JOURNALD_WINDOW_S: f64 = 60.0;
const MAX_SIGNALS: usize = 10_000;
/// A SIGPIPE a process raises on itself this soon after its handler ran is the handler's
/// re-raise (the Go runtime's dieFromSignal).
const RERAISE_WINDOW_S: f64 = 1.0;
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
    pub fd_role: &'static str,
    pub disposition: &'static str,
    pub outcome: &'static str,
    pub reraised: bool,
    pub exit_code: Option<i32>,
    pub watched: Option<String>,
}

#[derive(Serialize, Debug, Clone)]
pub struct ProcessTotals {
    pub pid: u32,
    pub comm: Option<String>,
    #[serde(flatten)]
    pub totals: Totals,
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
    /// Where the fd, the signal mask and the exit code come from: "kernel" (read at the event
    /// through BTF offsets) or "proc: why" (the fallback: /proc after the event, and timing).
    pub facts_from: String,
    /// Exact (the kernel's totals) where the kernel keeps them, else the records kept.
    pub sigpipes: u64,
    /// The kernel's totals over all processes (None: not read).
    pub totals: Option<Totals>,
    pub by_process: Vec<ProcessTotals>,
    /// Detailed records kept (bounded), and their outcomes.
    pub records: usize,
    pub by_outcome: BTreeMap<&'static str, usize>,
    pub by_comm: BTreeMap<String, usize>,
    pub deaths: u64,
    pub journald_restarts: Vec<f64>,
    pub signals: Vec<SignalRow>,
    pub epipe: Vec<EpipeRow>,
}

#[derive(Default)]
pub struct Analyzer {
    pub signals: Vec<Signal>,
    epipe: BTreeMap<u32, EpipeRow>,
    epipe_counts: BTreeMap<u32, u64>,
    totals: Option<BTreeMap<u32, Totals>>,
    watched_epipe: BTreeMap<u32, String>,
    journald: Vec<f64>,
}

impl Analyzer {
    pub fn on_generate(&mut self, s: Signal) {
        if s.raised && self.mark_reraised(s.tid, s.at) {
            return;
        }
        if self.signals.len() < MAX_SIGNALS {
            self.signals.push(s);
        }
    }

    /// The thread's last SIGPIPE went to a handler a moment ago: this one is its re-raise.
    fn mark_reraised(&mut self, tid: u32, at: f64) -> bool {
        let last = self.signals.iter_mut().rev().find(|s| s.tid == tid);
        match last {
            // The Go runtime may raise twice: once through its own handler (which forwards
            // to SIG_DFL), once with the default action set.
            Some(s) if matches!(s.handler, Some(h) if h > 1) && at - s.at <= RERAISE_WINDOW_S => {
                s.reraised = true;
                true
            }
            _ => false,
        }
    }

    /// signal_deliver: the most recent queued, undelivered SIGPIPE of that thread. A default
    /// delivery whose generation was not shipped (records are bounded) stands for it: `unpaired`.
    pub fn on_deliver(
        &mut self,
        tid: u32,
        handler: u64,
        at: f64,
        unpaired: impl FnOnce() -> Signal,
    ) {
        let queued = |s: &Signal| {
            s.tid == tid
                && s.handler.is_none()
                && !s.ignored_at_generation()
                && s.result != tracer_common::sigpipe::result::ALREADY_PENDING
        };
        if let Some(s) = self.signals.iter_mut().rev().find(|s| queued(s)) {
            s.handler = Some(handler);
        } else if handler == 0 && !self.mark_reraised(tid, at) {
            // Its generation was not shipped (records are bounded per process); a default
            // delivery right after a handled one is the re-raise, else it is a SIGPIPE of its own.
            let s = Signal {
                handler: Some(0),
                ..unpaired()
            };
            if self.signals.len() < MAX_SIGNALS {
                self.signals.push(s);
            }
        }
    }

    /// The process exited. Died of SIGPIPE with no record that could have killed it (records
    /// are bounded, and a fatal SIGPIPE is never delivered: the kernel turns it into a group
    /// exit at generation): `unpaired` stands for the signal.
    pub fn on_exit(
        &mut self,
        tgid: u32,
        at: f64,
        exit_code: Option<i32>,
        unpaired: impl FnOnce() -> Signal,
    ) {
        for s in self
            .signals
            .iter_mut()
            .filter(|s| s.tgid == tgid && s.exited_at.is_none())
        {
            s.exited_at = Some(at);
            s.exit_code = exit_code;
        }
        let of_sigpipe = exit_code.is_some_and(|c| c & 0x7f == SIGPIPE);
        if of_sigpipe
            && !self.signals.iter().any(|s| s.tgid == tgid && s.died())
            && self.signals.len() < MAX_SIGNALS
        {
            self.signals.push(Signal {
                exited_at: Some(at),
                exit_code,
                ..unpaired()
            });
        }
    }

    /// The kernel's exact totals per process.
    pub fn set_totals(&mut self, totals: BTreeMap<u32, Totals>) {
        self.totals = Some(totals);
    }

    pub fn totals(&self) -> Option<&BTreeMap<u32, Totals>> {
        self.totals.as_ref()
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

    fn signal_count(&self, tgid: u32, records: usize) -> u64 {
        self.totals
            .as_ref()
            .and_then(|t| t.get(&tgid))
            .map_or(records as u64, |t| t.generated)
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
                fd_role: fd_role(s.fd, s.fd_info.as_ref()),
                disposition: s.disposition(),
                outcome: s.outcome(),
                reraised: s.reraised,
                exit_code: s.exit_code,
                watched: s.watched.clone(),
            })
            .collect();
        let comm_of = |pid: u32| {
            self.signals
                .iter()
                .find(|s| s.tgid == pid)
                .map(|s| s.comm.clone())
        };
        let (totals, by_process) = match &self.totals {
            Some(t) => {
                let mut all = Totals::default();
                t.values().for_each(|p| all.merge(p));
                let rows = t
                    .iter()
                    .map(|(pid, t)| ProcessTotals {
                        pid: *pid,
                        comm: comm_of(*pid),
                        totals: t.clone(),
                    })
                    .collect();
                (Some(all), rows)
            }
            None => (None, vec![]),
        };
        let died = self.signals.iter().filter(|s| s.died()).count() as u64;
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
            facts_from: "kernel".into(),
            sigpipes: totals
                .as_ref()
                .map_or(self.signals.len() as u64, |t| t.generated),
            deaths: totals.as_ref().map_or(died, |t| t.deaths.max(died)),
            totals,
            by_process,
            records: self.signals.len(),
            by_outcome,
            by_comm,
            journald_restarts: self.journald.clone(),
            signals,
            epipe,
        };
        (report, findings)
    }
}

#[cfg(test)]
#[path = "analyzer_tests.rs"]
mod tests;
