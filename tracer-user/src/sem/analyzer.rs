//! sem analyzer: the life of every semaphore set per IPC namespace, from the start-up inventory
//! and the traced syscalls; decides which sets are leaked and how close each namespace is to its
//! limits. Pure: fed inventories and events, so it is unit-tested with recorded data.

use std::collections::BTreeMap;

pub use super::section::{EventCounts, NsReport, SemReport, SetReport};
use super::{
    explain,
    inventory::{Limits, NsInventory},
};
use crate::{
    attrib::{Container, Origin},
    problem::finding_kind,
    shared::{Finding, Severity, Subject},
};

/// devicemapper's udev cookies use keys 0x0d4dXXXX.
pub fn is_cookie(key: i32) -> bool {
    (key as u32) >> 16 == 0x0d4d
}

/// Percentage of a limit that is critical.
pub const CRITICAL_PCT: f64 = 90.0;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Creator {
    pub pid: u32,
    pub comm: String,
    pub container: Option<Container>,
}

#[derive(Clone, Debug, Default)]
pub struct SemSet {
    pub semid: i32,
    pub key: i32,
    pub nsems: i32,
    /// Known when the creating semget was traced.
    pub creator: Option<Creator>,
    /// Unix seconds.
    pub created: f64,
    /// sem_ctime (the last change: creation, SETVAL, IPC_SET), as `dmsetup udevcomplete_all`
    /// ages cookies; from the inventory, else the traced creation.
    pub ctime: f64,
    pub last_use: Option<f64>,
    pub last_user_pid: Option<u32>,
    pub from_inventory: bool,
}

#[derive(Clone, Debug, Default)]
pub struct NsState {
    pub limits: Option<Limits>,
    pub container: Option<Container>,
    /// A process in the namespace, for `nsenter --ipc --target` (None: ctrace's own).
    pub member_pid: Option<u32>,
    pub sets: BTreeMap<i32, SemSet>,
    pub enospc: u64,
}

pub struct Analyzer {
    pub ns: BTreeMap<u64, NsState>,
    pub counts: EventCounts,
    leak_age_s: f64,
    /// Unix seconds when ctrace started: sets created since then make the leak rate.
    started: f64,
}

pub fn key_hex(key: i32) -> String {
    format!("0x{:08x}", key as u32)
}

fn pct(used: u64, limit: u64) -> Option<f64> {
    (limit > 0).then(|| (used as f64 * 1000.0 / limit as f64).round() / 10.0)
}

impl Analyzer {
    pub fn new(leak_age_s: f64, started: f64) -> Analyzer {
        Analyzer {
            ns: BTreeMap::new(),
            counts: EventCounts::default(),
            leak_age_s,
            started,
        }
    }

    /// Merges a fresh read of one namespace: limits, sets not yet known, and removals nobody
    /// traced (a set missing from the inventory is gone).
    pub fn inventory(&mut self, inv: &NsInventory) {
        let st = self.ns.entry(inv.ipc_ns).or_default();
        st.limits = inv.limits.or(st.limits);
        st.sets
            .retain(|semid, s| inv.sets.iter().any(|r| r.semid == *semid && r.key == s.key));
        for row in &inv.sets {
            let set = st.sets.entry(row.semid).or_insert_with(|| SemSet {
                semid: row.semid,
                key: row.key,
                nsems: row.nsems,
                creator: None,
                created: row.ctime as f64,
                ctime: row.ctime as f64,
                last_use: None,
                last_user_pid: None,
                from_inventory: true,
            });
            if row.ctime > 0 {
                set.ctime = row.ctime as f64;
            }
            if row.otime > 0 {
                let t = row.otime as f64;
                set.last_use = Some(set.last_use.map_or(t, |u| u.max(t)));
            }
            if row.last_pid.is_some() {
                set.last_user_pid = row.last_pid;
            }
        }
    }

    /// Namespaces that no process is in any more have been destroyed, with their sets.
    pub fn retain_namespaces(&mut self, alive: impl Fn(u64) -> bool) {
        self.ns.retain(|ns, _| alive(*ns));
    }

    pub fn on_get(
        &mut self,
        ipc_ns: u64,
        semid: i32,
        key: i32,
        nsems: i32,
        creator: Creator,
        at: f64,
    ) {
        self.counts.semget += 1;
        let st = self.ns.entry(ipc_ns).or_default();
        let set = st.sets.entry(semid).or_insert_with(|| SemSet {
            semid,
            key,
            nsems,
            created: at,
            ctime: at,
            ..Default::default()
        });
        // semget of an existing key returns that set, which is no creation; a set the inventory
        // found just before its semget was drained is (its ctime is the creation time).
        let creation = !set.from_inventory || (at - set.created).abs() < 2.0;
        if set.creator.is_none() && creation {
            set.creator = Some(creator);
            set.from_inventory = false;
            set.created = at;
        }
    }

    pub fn on_get_failed(&mut self, ipc_ns: u64, errno: i64) {
        self.counts.semget_failed += 1;
        if errno == i64::from(libc::ENOSPC) {
            self.ns.entry(ipc_ns).or_default().enospc += 1;
        }
    }

    pub fn on_rmid(&mut self, ipc_ns: u64, semid: i32) {
        self.counts.rmid += 1;
        if let Some(st) = self.ns.get_mut(&ipc_ns) {
            st.sets.remove(&semid);
        }
    }

    pub fn on_use(&mut self, ipc_ns: u64, semid: i32, pid: u32, at: f64) {
        self.counts.use_ += 1;
        if let Some(set) = self
            .ns
            .get_mut(&ipc_ns)
            .and_then(|st| st.sets.get_mut(&semid))
        {
            set.last_use = Some(set.last_use.map_or(at, |u| u.max(at)));
            set.last_user_pid = Some(pid);
        }
    }

    pub fn set_count(&self) -> usize {
        self.ns.values().map(|s| s.sets.len()).sum()
    }

    /// A udev cookie is leaked once its sem_ctime is older than the leak age, whoever is alive
    /// (as `dmsetup udevcomplete_all` decides: dockerd keeps running after leaking one). Another
    /// set is leaked (orphaned) when nobody alive created or last used it, and it has been idle
    /// for the leak age.
    fn state(&self, s: &SemSet, now: f64, alive: &impl Fn(u32) -> bool) -> &'static str {
        if is_cookie(s.key) && now - s.ctime >= self.leak_age_s {
            return "leaked";
        }
        let idle = now - s.last_use.unwrap_or(s.created).max(s.created);
        let owner_alive =
            s.creator.as_ref().is_some_and(|c| alive(c.pid)) || s.last_user_pid.is_some_and(alive);
        if idle < self.leak_age_s {
            "in_use"
        } else if owner_alive {
            "idle"
        } else {
            "leaked"
        }
    }

    pub fn leaked_count(&self, now: f64, alive: impl Fn(u32) -> bool) -> usize {
        self.ns
            .values()
            .flat_map(|st| st.sets.values())
            .filter(|s| self.state(s, now, &alive) == "leaked")
            .count()
    }

    pub fn report(&self, now: f64, alive: impl Fn(u32) -> bool) -> (SemReport, Vec<Finding>) {
        let mut namespaces = Vec::new();
        let mut sets = Vec::new();
        let mut findings = Vec::new();
        for (&ipc_ns, st) in &self.ns {
            let mut ns_sets = Vec::new();
            for s in st.sets.values() {
                let creator = s.creator.as_ref();
                let container = creator
                    .and_then(|c| c.container.as_ref())
                    .or(st.container.as_ref());
                ns_sets.push(SetReport {
                    ipc_ns,
                    semid: s.semid,
                    key: key_hex(s.key),
                    cookie: is_cookie(s.key),
                    nsems: s.nsems,
                    creator_pid: creator.map(|c| c.pid).or(s.last_user_pid),
                    creator_comm: creator.map(|c| c.comm.clone()),
                    container_id: container.map(|c| c.id.clone()),
                    container_name: container.and_then(|c| c.name.clone()),
                    origin: Origin::of(container),
                    age_s: (now - s.created).max(0.0),
                    idle_s: (now - s.last_use.unwrap_or(s.created).max(s.created)).max(0.0),
                    source: if s.from_inventory {
                        "inventory"
                    } else {
                        "traced"
                    },
                    state: self.state(s, now, &alive),
                });
            }
            let semaphores: u64 = st.sets.values().map(|s| s.nsems.max(0) as u64).sum();
            let leaked = ns_sets.iter().filter(|s| s.state == "leaked").count();
            // Leaked sets born while ctrace watched, per minute; the time until SEMMNI at it.
            let watched_min = ((now - self.started) / 60.0).max(1e-9);
            let new_leaks = ns_sets
                .iter()
                .filter(|s| s.state == "leaked" && now - s.age_s >= self.started)
                .count();
            let leak_rate_per_min = new_leaks as f64 / watched_min;
            let time_to_semmni_s = st.limits.filter(|_| leak_rate_per_min > 0.0).map(|l| {
                l.semmni.saturating_sub(st.sets.len() as u64) as f64 / (leak_rate_per_min / 60.0)
            });
            let ns = NsReport {
                ipc_ns,
                member_pid: st.member_pid,
                leak_rate_per_min,
                time_to_semmni_s,
                container_id: st.container.as_ref().map(|c| c.id.clone()),
                container_name: st.container.as_ref().and_then(|c| c.name.clone()),
                origin: Origin::of(st.container.as_ref()),
                limits: st.limits,
                sets: st.sets.len(),
                semaphores,
                sets_pct: st.limits.and_then(|l| pct(st.sets.len() as u64, l.semmni)),
                semaphores_pct: st.limits.and_then(|l| pct(semaphores, l.semmns)),
                cookies: st.sets.values().filter(|s| is_cookie(s.key)).count(),
                leaked,
                enospc_failures: st.enospc,
            };
            if let Some(f) = self.finding(&ns, &ns_sets) {
                findings.push(f);
            }
            namespaces.push(ns);
            sets.extend(ns_sets);
        }
        sets.sort_by(|a, b| b.age_s.total_cmp(&a.age_s));
        let report = SemReport {
            leak_age_s: self.leak_age_s,
            events: self.counts,
            namespaces,
            sets,
        };
        (report, findings)
    }

    fn finding(&self, ns: &NsReport, sets: &[SetReport]) -> Option<Finding> {
        let fullest = ns
            .sets_pct
            .unwrap_or(0.0)
            .max(ns.semaphores_pct.unwrap_or(0.0));
        let critical = fullest >= CRITICAL_PCT;
        let cookies = sets.iter().any(|s| s.state == "leaked" && s.cookie);
        let leaked: Vec<&SetReport> = sets.iter().filter(|s| s.state == "leaked").collect();
        if leaked.is_empty() && !critical && ns.enospc_failures == 0 {
            return None;
        }
        let first = leaked.first().copied();
        let subject = Subject {
            pid: first.and_then(|s| s.creator_pid),
            comm: first.and_then(|s| s.creator_comm.clone()),
            container_id: first
                .and_then(|s| s.container_id.clone())
                .or(ns.container_id.clone()),
            container_name: first
                .and_then(|s| s.container_name.clone())
                .or(ns.container_name.clone()),
            origin: first
                .filter(|s| s.container_id.is_some())
                .map_or(ns.origin.clone(), |s| s.origin.clone()),
        };
        let evidence = serde_json::json!({
            "ipc_ns": ns.ipc_ns,
            "sets": ns.sets,
            "semmni": ns.limits.map(|l| l.semmni),
            "sets_pct": ns.sets_pct,
            "semaphores": ns.semaphores,
            "semmns": ns.limits.map(|l| l.semmns),
            "semaphores_pct": ns.semaphores_pct,
            "enospc_failures": ns.enospc_failures,
            "leak_age_s": self.leak_age_s,
            "leak_rate_per_min": ns.leak_rate_per_min,
            "time_to_semmni_s": ns.time_to_semmni_s,
            "leaked_count": leaked.len(),
            "leaked": leaked.iter().take(50).map(|s| serde_json::json!({
                "key": s.key, "semid": s.semid, "cookie": s.cookie, "nsems": s.nsems,
                "creator_pid": s.creator_pid, "creator_comm": s.creator_comm,
                "container_id": s.container_id, "age_s": s.age_s, "idle_s": s.idle_s,
            })).collect::<Vec<_>>(),
        });
        Some(Finding {
            kind: finding_kind::SEM_LEAK,
            // Orphaned sets with other keys may be an application's on purpose: info.
            severity: if critical {
                Severity::Critical
            } else if cookies || ns.enospc_failures > 0 {
                Severity::Warning
            } else {
                Severity::Info
            },
            subject,
            evidence,
            explanation: explain::explanation(ns, &leaked, self.leak_age_s),
            remediation: explain::remediation(ns, &leaked),
        })
    }
}

#[cfg(test)]
#[path = "analyzer_tests.rs"]
mod tests;
