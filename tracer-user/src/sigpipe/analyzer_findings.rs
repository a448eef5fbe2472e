//! The sigpipe analyzer's findings: one per watched process, from its signals and EPIPEs.

use std::collections::BTreeMap;

use super::{Analyzer, JOURNALD_WINDOW_S, Signal, fd_role};
use crate::{
    attrib::Origin,
    problem::finding_kind,
    shared::{Finding, Severity, Subject},
    sigpipe::explain,
};

impl Analyzer {
    /// One finding per watched process: critical when it died of SIGPIPE, a warning when its
    /// log writes fail with EPIPE, info when only a client connection (or another fd) broke.
    pub(super) fn findings(&self) -> Vec<Finding> {
        let mut by_proc: BTreeMap<u32, Vec<&Signal>> = BTreeMap::new();
        for s in self.signals.iter().filter(|s| s.watched.is_some()) {
            by_proc.entry(s.tgid).or_default().push(s);
        }
        let mut out = Vec::new();
        for (tgid, sigs) in &by_proc {
            let died = sigs.iter().find(|s| s.died());
            let epipes = self.epipe_count(*tgid);
            if died.is_none() && epipes == 0 && !sigs.iter().any(|s| s.reraised) {
                continue;
            }
            // The one that killed it, else the last on its log (one that was not merged into
            // a pending one first), else the last.
            let on_log = |s: &&&Signal| fd_role(s.fd, s.fd_info.as_ref()) == "log";
            let fresh = |s: &&&Signal| s.result != tracer_common::sigpipe::result::ALREADY_PENDING;
            let key = died
                .or_else(|| sigs.iter().rev().find(|s| on_log(s) && fresh(s)))
                .or_else(|| sigs.iter().rev().find(on_log))
                .copied()
                .unwrap_or(sigs[sigs.len() - 1]);
            let n = self.signal_count(*tgid, sigs.len());
            out.push(self.finding(key, died.is_some(), n, epipes));
        }
        // Watched processes that never got the signal (it is blocked or ignored per thread)
        // but whose writes fail with EPIPE.
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
                    result: tracer_common::sigpipe::result::IGNORED,
                    watched: Some(why.clone()),
                    ..Default::default()
                };
                let n = self.signal_count(*tgid, 0);
                out.push(self.finding(&s, false, n, self.epipe_count(*tgid)));
            }
        }
        out
    }

    fn finding(&self, s: &Signal, died: bool, signals: u64, epipes: u64) -> Finding {
        let journald_before = self
            .journald
            .iter()
            .filter(|&&j| j <= s.at && s.at - j <= JOURNALD_WINDOW_S)
            .map(|j| s.at - j)
            .fold(None, |m: Option<f64>, d| Some(m.map_or(d, |m| m.min(d))));
        let role = fd_role(s.fd, s.fd_info.as_ref());
        let evidence = serde_json::json!({
            "outcome": if died { "fatal" } else { s.outcome() },
            "disposition": s.disposition(),
            "died": died,
            "exit_code": s.exit_code,
            "reraised": s.reraised,
            "blocked": s.blocked,
            "signals": signals,
            "epipe_count": epipes,
            "syscall": s.syscall,
            "fd": s.fd,
            "fd_role": role,
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
            } else if role == "log" {
                Severity::Warning
            } else {
                Severity::Info
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
