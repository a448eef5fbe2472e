//! Every finding seen during a trace, not only those still true at its end: a semaphore leak
//! raised at 7 s and cleaned up at 27 s belongs in the 30 s report, marked resolved (as serve's
//! stream says `resolved`), with when it was first and last seen. serve's `/report` keeps them
//! too, for a bounded time and number (`forget_resolved`).

use std::collections::BTreeMap;

use serde::Serialize;

use super::Finding;

/// When a finding held during the window, and whether it still held at the end.
#[derive(Serialize, Debug, Clone, Copy, PartialEq)]
pub struct Window {
    /// Seconds from the start of the trace.
    pub first_seen_s: f64,
    pub last_seen_s: f64,
    pub active: bool,
}

/// The findings of each snapshot so far, by identity: the latest version of each.
#[derive(Default)]
pub struct Seen {
    by_id: BTreeMap<String, (Finding, Window)>,
    /// The latest snapshot's time: a finding last seen before it no longer holds.
    latest_s: f64,
}

impl Seen {
    /// The findings of a snapshot taken `at_s` seconds into the trace.
    pub fn observe(&mut self, findings: &[Finding], at_s: f64) {
        self.latest_s = self.latest_s.max(at_s);
        for f in findings {
            self.by_id
                .entry(f.identity())
                .and_modify(|(old, w)| {
                    *old = f.clone();
                    w.last_seen_s = at_s;
                })
                .or_insert_with(|| {
                    let w = Window {
                        first_seen_s: at_s,
                        last_seen_s: at_s,
                        active: false,
                    };
                    (f.clone(), w)
                });
        }
    }

    /// The findings of the latest snapshot (`last`, taken at `at_s`) with their windows, then
    /// those resolved before it, in the order they were first seen. All stay remembered.
    pub fn windows(&mut self, last: Vec<Finding>, at_s: f64) -> Vec<(Finding, Window)> {
        self.observe(&last, at_s);
        let active: std::collections::HashSet<String> =
            last.iter().map(Finding::identity).collect();
        let mut out: Vec<(Finding, Window)> = last
            .into_iter()
            .map(|f| {
                let mut w = self.by_id[&f.identity()].1;
                w.active = true;
                (f, w)
            })
            .collect();
        let mut resolved: Vec<(Finding, Window)> = self
            .by_id
            .iter()
            .filter(|(id, _)| !active.contains(*id))
            .map(|(_, fw)| fw.clone())
            .collect();
        resolved.sort_by(|a, b| a.1.first_seen_s.total_cmp(&b.1.first_seen_s));
        out.extend(resolved);
        out
    }

    /// Forgets the findings resolved more than `keep_s` before the latest snapshot, then the
    /// longest resolved beyond the `max` most recent: a long-running agent's memory stays
    /// bounded while the findings of the last while stay in its report.
    pub fn forget_resolved(&mut self, keep_s: f64, max: usize) {
        let latest = self.latest_s;
        self.by_id
            .retain(|_, (_, w)| w.last_seen_s + keep_s >= latest);
        let mut resolved: Vec<(f64, String)> = self
            .by_id
            .iter()
            .filter(|(_, (_, w))| w.last_seen_s < latest)
            .map(|(id, (_, w))| (w.last_seen_s, id.clone()))
            .collect();
        if resolved.len() > max {
            resolved.sort_by(|a, b| a.0.total_cmp(&b.0));
            for (_, id) in &resolved[..resolved.len() - max] {
                self.by_id.remove(id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::{Severity, Subject};

    fn finding(kind: &'static str, pid: u32) -> Finding {
        Finding {
            kind,
            severity: Severity::Warning,
            subject: Subject {
                pid: Some(pid),
                ..Default::default()
            },
            evidence: serde_json::json!({}),
            explanation: String::new(),
            remediation: String::new(),
        }
    }

    #[test]
    fn a_finding_resolved_before_the_end_is_kept_with_its_window() {
        let mut seen = Seen::default();
        seen.observe(&[finding("sem_leak", 1)], 7.0);
        seen.observe(
            &[finding("sem_leak", 1), finding("zombie_accumulation", 2)],
            12.0,
        );
        seen.observe(&[finding("zombie_accumulation", 2)], 27.0);
        let out = seen.windows(vec![finding("zombie_accumulation", 2)], 30.0);
        let kinds: Vec<(&str, Window)> = out.iter().map(|(f, w)| (f.kind, *w)).collect();
        assert_eq!(
            kinds,
            [
                (
                    "zombie_accumulation",
                    Window {
                        first_seen_s: 12.0,
                        last_seen_s: 30.0,
                        active: true
                    }
                ),
                (
                    "sem_leak",
                    Window {
                        first_seen_s: 7.0,
                        last_seen_s: 12.0,
                        active: false
                    }
                ),
            ]
        );
    }

    #[test]
    fn a_finding_only_at_the_end_is_active_from_the_end() {
        let out = Seen::default().windows(vec![finding("sem_leak", 1)], 3.0);
        assert_eq!(
            out[0].1,
            Window {
                first_seen_s: 3.0,
                last_seen_s: 3.0,
                active: true
            }
        );
    }

    #[test]
    fn resolved_findings_are_forgotten_after_a_while_and_beyond_a_number() {
        let mut seen = Seen::default();
        seen.observe(&[finding("sem_leak", 1), finding("sem_leak", 2)], 10.0);
        seen.observe(&[finding("sem_leak", 3)], 20.0);
        seen.observe(&[finding("zombie_accumulation", 4)], 100.0);
        seen.forget_resolved(85.0, 10);
        // 1 and 2 resolved at 10 s, over 85 s before the latest snapshot.
        let kinds = |s: &mut Seen| -> Vec<u32> {
            let mut v: Vec<u32> = s
                .windows(vec![finding("zombie_accumulation", 4)], 100.0)
                .iter()
                .filter_map(|(f, _)| f.subject.pid)
                .collect();
            v.sort();
            v
        };
        assert_eq!(kinds(&mut seen), [3, 4]);
        seen.forget_resolved(1000.0, 0);
        // Still active: never forgotten.
        assert_eq!(kinds(&mut seen), [4]);
    }
}
