//! zombie analyzer: every zombie with its exit, its parent and its reap, grouped by the parent
//! that must reap it; the finding when zombies stay unreaped under any parent (a PID 1 that does
//! not reap orphans, or an application that never waits for its own children). Pure: fed exits,
//! observations and frees, so it is unit-tested with recorded data.

use std::collections::BTreeMap;

pub use super::section::{GroupReport, NodeLimits, ZombieReport, ZombieRow};
use super::{explain, is_known_init};
use crate::{
    attrib::{Container, Origin},
    problem::finding_kind,
    shared::{Finding, Severity, Subject},
};

/// The parent that must reap a zombie, as /proc showed it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ParentInfo {
    pub pid: u32,
    pub comm: String,
    /// PID 1 of its pid namespace.
    pub ns_pid1: bool,
    pub pidns: Option<u64>,
    pub container: Option<Container>,
    pub pids_max: Option<u64>,
    pub pids_current: Option<u64>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Zombie {
    pub pid: u32,
    pub comm: String,
    pub parent: u32,
    /// Unix seconds; None for zombies found by a scan, whose exit came before ctrace.
    pub exited: Option<f64>,
    pub first_seen: f64,
    pub reaped: Option<f64>,
}

pub struct Analyzer {
    pub zombies: BTreeMap<u32, Zombie>,
    parents: BTreeMap<u32, ParentInfo>,
    pub exits: u64,
    pub reaped_quickly: u64,
    /// Reaped zombies dropped from `zombies` by a long-lived agent; still counted as reaped.
    forgotten_reaped: u64,
    threshold_s: f64,
    started: f64,
}

impl Analyzer {
    pub fn new(threshold_s: f64, started: f64) -> Analyzer {
        Analyzer {
            zombies: BTreeMap::new(),
            parents: BTreeMap::new(),
            exits: 0,
            reaped_quickly: 0,
            forgotten_reaped: 0,
            threshold_s,
            started,
        }
    }

    pub fn on_exit(&mut self) {
        self.exits += 1;
    }

    /// A process that exited turned out to be gone already: reaped at once.
    pub fn reaped_at_once(&mut self) {
        self.reaped_quickly += 1;
    }

    /// A zombie seen in /proc (after its traced exit, or by a scan).
    pub fn seen(
        &mut self,
        pid: u32,
        comm: &str,
        parent: ParentInfo,
        exited: Option<f64>,
        now: f64,
    ) {
        let fresh = Zombie {
            pid,
            comm: comm.to_string(),
            parent: parent.pid,
            exited,
            first_seen: now,
            reaped: None,
        };
        let z = self.zombies.entry(pid).or_insert_with(|| fresh.clone());
        if z.reaped.is_some() {
            // The pid was reaped and reused: another process, another zombie.
            *z = fresh;
        }
        // A scan may see it before its traced exit is looked up: keep the exit time.
        z.exited = z.exited.or(exited);
        // Re-parenting: a zombie whose parent died belongs to the new one.
        z.parent = parent.pid;
        self.parents.insert(parent.pid, parent);
    }

    pub fn reaped(&mut self, pid: u32, at: f64) {
        if let Some(z) = self.zombies.get_mut(&pid)
            && z.reaped.is_none()
        {
            z.reaped = Some(at);
        }
    }

    /// Drops reaped zombies and parents left without zombies; returns how many zombies.
    pub fn forget_reaped(&mut self) -> u64 {
        let before = self.zombies.len();
        self.zombies.retain(|_, z| z.reaped.is_none());
        let n = (before - self.zombies.len()) as u64;
        self.forgotten_reaped += n;
        let zombies = &self.zombies;
        self.parents
            .retain(|p, _| zombies.values().any(|z| z.parent == *p));
        n
    }

    pub fn is_zombie(&self, pid: u32) -> bool {
        self.zombies.get(&pid).is_some_and(|z| z.reaped.is_none())
    }

    pub fn current(&self) -> usize {
        self.zombies.values().filter(|z| z.reaped.is_none()).count()
    }

    fn age(z: &Zombie, now: f64) -> f64 {
        (now - z.exited.unwrap_or(z.first_seen)).max(0.0)
    }

    pub fn report(&self, now: f64, node: NodeLimits) -> (ZombieReport, Vec<Finding>) {
        let mut by_parent: BTreeMap<u32, Vec<&Zombie>> = BTreeMap::new();
        for z in self.zombies.values().filter(|z| z.reaped.is_none()) {
            by_parent.entry(z.parent).or_default().push(z);
        }
        let watched_min = ((now - self.started) / 60.0).max(1e-9);
        let mut groups = Vec::new();
        let mut findings = Vec::new();
        for (ppid, zs) in by_parent {
            let p = self.parents.get(&ppid).cloned().unwrap_or(ParentInfo {
                pid: ppid,
                ..Default::default()
            });
            let new = zs
                .iter()
                .filter(|z| z.exited.is_some_and(|e| e >= self.started))
                .count();
            let rate_per_min = new as f64 / watched_min;
            let mut limits = vec![
                ("kernel.pid_max", node.pid_max.saturating_sub(node.tasks)),
                (
                    "kernel.threads-max",
                    node.threads_max.saturating_sub(node.tasks),
                ),
            ];
            if let (Some(max), Some(cur)) = (p.pids_max, p.pids_current) {
                limits.push(("pids.max", max.saturating_sub(cur)));
            }
            let (headroom_limit, headroom) =
                limits.into_iter().min_by_key(|l| l.1).unwrap_or(("", 0));
            let g = GroupReport {
                parent_pid: ppid,
                parent_comm: p.comm.clone(),
                parent_is_pid1: p.ns_pid1,
                known_init: is_known_init(&p.comm),
                pidns: p.pidns,
                container_id: p.container.as_ref().map(|c| c.id.clone()),
                container_name: p.container.as_ref().and_then(|c| c.name.clone()),
                origin: Origin::of(p.container.as_ref()),
                zombies: zs.len(),
                over_threshold: zs
                    .iter()
                    .filter(|z| Self::age(z, now) >= self.threshold_s)
                    .count(),
                oldest_age_s: zs.iter().map(|z| Self::age(z, now)).fold(0.0, f64::max),
                rate_per_min,
                pids_max: p.pids_max,
                pids_current: p.pids_current,
                headroom,
                headroom_limit,
                time_to_limit_s: (rate_per_min > 0.0)
                    .then(|| headroom as f64 / (rate_per_min / 60.0)),
            };
            if g.over_threshold > 0 {
                findings.push(self.finding(&g, &p));
            }
            groups.push(g);
        }
        groups.sort_by_key(|g| std::cmp::Reverse(g.zombies));
        let mut zombies: Vec<ZombieRow> = self
            .zombies
            .values()
            .map(|z| ZombieRow {
                pid: z.pid,
                comm: z.comm.clone(),
                parent_pid: z.parent,
                age_s: Self::age(z, z.reaped.unwrap_or(now)),
                reaped_after_s: z.reaped.map(|r| r - z.exited.unwrap_or(z.first_seen)),
                source: if z.exited.is_some() { "traced" } else { "scan" },
            })
            .collect();
        zombies.sort_by(|a, b| b.age_s.total_cmp(&a.age_s));
        let report = ZombieReport {
            threshold_s: self.threshold_s,
            live: self.current() as u64,
            exits: self.exits,
            reaped_quickly: self.reaped_quickly,
            reaped: self.forgotten_reaped
                + self.zombies.values().filter(|z| z.reaped.is_some()).count() as u64,
            node,
            groups,
            zombies,
            init_signals: Vec::new(),
        };
        (report, findings)
    }

    fn finding(&self, g: &GroupReport, p: &ParentInfo) -> Finding {
        let critical = g.time_to_limit_s.is_some_and(|t| t < 3600.0)
            || g.pids_max.is_some_and(|m| g.headroom * 10 <= m);
        Finding {
            kind: finding_kind::ZOMBIE_ACCUMULATION,
            severity: if critical {
                Severity::Critical
            } else {
                Severity::Warning
            },
            subject: Subject {
                pid: Some(g.parent_pid),
                comm: Some(p.comm.clone()),
                container_id: g.container_id.clone(),
                container_name: g.container_name.clone(),
                origin: g.origin.clone(),
            },
            evidence: serde_json::json!({
                "parent_pid": g.parent_pid,
                "parent_comm": g.parent_comm,
                "parent_is_pid1": g.parent_is_pid1,
                // Kept from when only PID 1 was reported: null for other parents.
                "pid1_pid": g.parent_is_pid1.then_some(g.parent_pid),
                "pid1_comm": g.parent_is_pid1.then_some(&g.parent_comm),
                "known_init": g.known_init,
                "pidns": g.pidns,
                "zombies": g.zombies,
                "over_threshold": g.over_threshold,
                "threshold_s": self.threshold_s,
                "oldest_age_s": g.oldest_age_s,
                "rate_per_min": g.rate_per_min,
                "pids_max": g.pids_max,
                "pids_current": g.pids_current,
                "headroom": g.headroom,
                "headroom_limit": g.headroom_limit,
                "time_to_limit_s": g.time_to_limit_s,
            }),
            explanation: explain::explanation(g, self.threshold_s),
            remediation: explain::remediation(g),
        }
    }
}

#[cfg(test)]
#[path = "analyzer_tests.rs"]
mod tests;
