//! What the live view shows each interval, built on the main thread from the problems' live
//! parts and a snapshot of the report, and handed to the view's thread as plain owned data.

use std::collections::{BTreeSet, HashMap};

use crate::{
    report::Report,
    seccomp::section::SeccompReport,
    shared::{Severity, Subject},
};

/// One interval's view.
#[derive(Debug, Clone, Default)]
pub struct Model {
    /// Seconds since the probes were attached.
    pub elapsed_s: f64,
    /// Each problem's summary, by the problem's name (its part of the live line).
    pub problems: Vec<(&'static str, String)>,
    /// The active findings, the most severe first; None when no snapshot was taken this
    /// interval (the previous ones still hold).
    pub findings: Option<Vec<FindingRow>>,
    /// Findings that were not active at the previous snapshot.
    pub new_findings: Vec<FindingRow>,
    /// seccomp's processes; None when no snapshot was taken this interval.
    pub processes: Option<Vec<ProcessRow>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FindingRow {
    pub severity: Severity,
    pub kind: &'static str,
    pub subject: String,
}

/// One traced process in seccomp's table.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessRow {
    pub pid: u32,
    pub comm: String,
    pub container: String,
    /// Syscalls per second over the last interval (over the whole run at the first snapshot).
    pub per_s: f64,
    /// Milliseconds spent inside syscalls so far, blocked time included (latency mode).
    pub time_ms: Option<f64>,
    /// Its busiest syscall.
    pub top: String,
}

/// "noreap-init (pid 4242, container web)": who a finding is about.
pub fn subject(s: &Subject) -> String {
    let mut out = s.comm.clone().unwrap_or_default();
    let mut extra = Vec::new();
    if let Some(p) = s.pid {
        extra.push(format!("pid {p}"));
    }
    match (&s.container_name, &s.container_id) {
        (Some(n), _) => extra.push(format!("container {n}")),
        (None, Some(id)) => extra.push(format!("container {}", short_id(id))),
        _ => {}
    }
    if !extra.is_empty() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&format!("({})", extra.join(", ")));
    }
    if out.is_empty() { "node".into() } else { out }
}

fn short_id(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

fn rank(s: Severity) -> u8 {
    match s {
        Severity::Critical => 0,
        Severity::Warning => 1,
        Severity::Info => 2,
    }
}

/// What the builder remembers between snapshots: the active findings (to tell the new ones)
/// and each process's syscall count (for its rate over the last interval).
#[derive(Default)]
pub struct Tracker {
    active: BTreeSet<String>,
    syscalls: HashMap<u32, (u64, f64)>,
}

impl Tracker {
    /// This interval's model; `report` is the snapshot taken this interval, if any.
    pub fn model(
        &mut self,
        elapsed_s: f64,
        problems: Vec<(&'static str, String)>,
        report: Option<&Report>,
    ) -> Model {
        let mut m = Model {
            elapsed_s,
            problems,
            ..Model::default()
        };
        let Some(report) = report else {
            return m;
        };
        let mut rows: Vec<(FindingRow, String)> = report
            .findings
            .iter()
            .map(|f| {
                let row = FindingRow {
                    severity: f.severity,
                    kind: f.kind,
                    subject: subject(&f.subject),
                };
                (row, f.identity())
            })
            .collect();
        rows.sort_by(|(a, _), (b, _)| {
            (rank(a.severity), a.kind, &a.subject).cmp(&(rank(b.severity), b.kind, &b.subject))
        });
        let active: BTreeSet<String> = rows.iter().map(|(_, id)| id.clone()).collect();
        m.new_findings = rows
            .iter()
            .filter(|(_, id)| !self.active.contains(id))
            .map(|(r, _)| r.clone())
            .collect();
        self.active = active;
        m.findings = Some(rows.into_iter().map(|(r, _)| r).collect());
        m.processes = report
            .section("seccomp")
            .and_then(|s| (s as &dyn std::any::Any).downcast_ref::<SeccompReport>())
            .map(|s| self.processes(s, elapsed_s));
        m
    }

    fn processes(&mut self, s: &SeccompReport, now: f64) -> Vec<ProcessRow> {
        let mut seen = HashMap::with_capacity(s.processes.len());
        let rows = s
            .processes
            .iter()
            .map(|p| {
                let per_s = match self.syscalls.get(&p.pid) {
                    Some(&(n, t)) if now > t && p.syscalls >= n => {
                        (p.syscalls - n) as f64 / (now - t)
                    }
                    _ => p.syscalls_per_s,
                };
                seen.insert(p.pid, (p.syscalls, now));
                ProcessRow {
                    pid: p.pid,
                    comm: p.comm.clone(),
                    container: p
                        .container_name
                        .clone()
                        .or_else(|| p.container_id.as_deref().map(|i| short_id(i).to_string()))
                        .unwrap_or_else(|| "-".into()),
                    per_s,
                    time_ms: p.total_ns.map(|n| n as f64 / 1e6),
                    top: p
                        .top
                        .first()
                        .map_or_else(String::new, |t| t.syscall.clone()),
                }
            })
            .collect();
        // Only the processes still listed: a long run forgets the dead.
        self.syscalls = seen;
        rows
    }
}

pub use crate::shared::fit;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::Finding;

    #[test]
    fn subject_names_pid_and_container() {
        let s = Subject {
            pid: Some(7),
            comm: Some("init".into()),
            container_id: Some("0123456789abcdef".into()),
            container_name: None,
            ..Subject::default()
        };
        assert_eq!(subject(&s), "init (pid 7, container 0123456789ab)");
        assert_eq!(subject(&Subject::default()), "node");
    }

    fn finding(kind: &'static str, severity: Severity, pid: u32) -> Finding {
        Finding {
            kind,
            severity,
            subject: Subject {
                pid: Some(pid),
                ..Subject::default()
            },
            evidence: serde_json::Value::Null,
            explanation: String::new(),
            remediation: String::new(),
        }
    }

    fn report(findings: Vec<Finding>) -> Report {
        Report {
            version: "0",
            kernel: String::new(),
            probes: Vec::new(),
            duration_s: 0.0,
            events: Default::default(),
            drops: Default::default(),
            drop_reasons: Default::default(),
            findings,
            windows: Vec::new(),
            duty_cycle_pct: 100,
            sections: Vec::new(),
            bpf: None,
            evidence: None,
        }
    }

    #[test]
    fn new_findings_once_then_most_severe_first() {
        let mut t = Tracker::default();
        let a = finding("zombie_accumulation", Severity::Warning, 1);
        let m = t.model(1.0, Vec::new(), Some(&report(vec![a.clone()])));
        assert_eq!(m.new_findings.len(), 1);
        let b = finding("sem_leak", Severity::Critical, 2);
        let m = t.model(2.0, Vec::new(), Some(&report(vec![a.clone(), b])));
        assert_eq!(m.new_findings.len(), 1);
        assert_eq!(m.new_findings[0].kind, "sem_leak");
        let f = m.findings.unwrap();
        assert_eq!(f[0].severity, Severity::Critical);
        // No snapshot this interval: nothing new, and the view keeps the last findings.
        let m = t.model(3.0, Vec::new(), None);
        assert!(m.findings.is_none() && m.new_findings.is_empty());
    }
}
