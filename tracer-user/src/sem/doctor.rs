//! sem's part of `ctrace doctor`: sets and semaphores against each IPC namespace's limits.

use super::{analyzer, inventory};
use crate::shared::{Check, Status};

/// `ctrace doctor`: sets and semaphores against the limits in every IPC namespace.
pub fn doctor_checks() -> Vec<Check> {
    let mut out = Vec::new();
    for inv in inventory::read_all() {
        let Some(l) = inv.limits else { continue };
        let sets = inv.sets.len() as u64;
        let sems: u64 = inv.sets.iter().map(|s| s.nsems.max(0) as u64).sum();
        let cookies = inv
            .sets
            .iter()
            .filter(|s| analyzer::is_cookie(s.key))
            .count();
        let fullest = (sets as f64 / l.semmni.max(1) as f64)
            .max(sems as f64 / l.semmns.max(1) as f64)
            * 100.0;
        let mut oldest: Vec<&inventory::SetRow> = inv.sets.iter().collect();
        oldest.sort_by_key(|s| s.ctime);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let oldest: Vec<String> = oldest
            .iter()
            .take(3)
            .map(|s| format!("{} ({}s)", analyzer::key_hex(s.key), now - s.ctime))
            .collect();
        let status = if fullest >= analyzer::CRITICAL_PCT {
            Status::Fail
        } else {
            Status::Ok
        };
        out.push(Check {
            name: format!("sem:ipc_ns {}", inv.ipc_ns),
            status,
            detail: format!(
                "{sets}/{} sets (SEMMNI), {sems}/{} semaphores (SEMMNS), {cookies} udev cookies (0xd4d){}",
                l.semmni,
                l.semmns,
                if oldest.is_empty() { String::new() } else { format!(", oldest: {}", oldest.join(", ")) }
            ),
        });
    }
    out
}
