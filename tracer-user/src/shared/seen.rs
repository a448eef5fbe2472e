//! Every finding seen during a trace, not only those still true at its end: a semaphore leak
//! raised at 7 s and cleaned up at 27 s belongs in the 30 s report, marked resolved (as serve's
//! stream says `resolved`), with when it was first and last seen.

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
}

impl Seen {
    /// The findings of a snapshot taken `at_s` seconds into the trace.
    pub fn observe(&mut self, findings: &[Finding], at_s: f64) {
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

    /// The final findings (`at_s`, the end) with their windows, then those resolved before
    /// the end, in the order they were first seen.
    pub fn close(mut self, last: Vec<Finding>, at_s: f64) -> Vec<(Finding, Window)> {
        self.observe(&last, at_s);
        let mut out: Vec<(Finding, Window)> = last
            .into_iter()
            .map(|f| {
                let mut w = self.by_id.remove(&f.identity()).map_or(
                    Window {
                        first_seen_s: at_s,
                        last_seen_s: at_s,
                        active: true,
                    },
                    |(_, w)| w,
                );
                w.active = true;
                (f, w)
            })
            .collect();
        let mut resolved: Vec<(Finding, Window)> = self.by_id.into_values().collect();
        resolved.sort_by(|a, b| a.1.first_seen_s.total_cmp(&b.1.first_seen_s));
        out.extend(resolved);
        out
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
        let out = seen.close(vec![finding("zombie_accumulation", 2)], 30.0);
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
        let out = Seen::default().close(vec![finding("sem_leak", 1)], 3.0);
        assert_eq!(
            out[0].1,
            Window {
                first_seen_s: 3.0,
                last_seen_s: 3.0,
                active: true
            }
        );
    }
}
