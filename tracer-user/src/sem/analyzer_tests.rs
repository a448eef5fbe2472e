//! sem analyzer fed with recorded inventories and events.

use super::*;
use crate::sem::inventory::SetRow;

const NS: u64 = 4026531839;
const T0: f64 = 1_700_000_000.0;

fn limits(semmni: u64) -> Limits {
    Limits {
        semmsl: 250,
        semmns: 32000,
        semopm: 32,
        semmni,
    }
}

fn creator(pid: u32) -> Creator {
    Creator {
        pid,
        comm: "dockerd".into(),
        container: None,
    }
}

fn inv(semmni: u64, sets: Vec<SetRow>) -> NsInventory {
    NsInventory {
        ipc_ns: NS,
        limits: Some(limits(semmni)),
        sets,
    }
}

fn row(semid: i32, key: i32, ctime: i64) -> SetRow {
    SetRow {
        key,
        semid,
        nsems: 1,
        otime: 0,
        ctime,
        last_pid: None,
    }
}

#[test]
fn cookie_keys() {
    assert!(is_cookie(0x0d4d_0001));
    assert!(is_cookie(0x0d4d_ffff));
    assert!(!is_cookie(0x0d4e_0001));
    assert!(!is_cookie(-1));
    assert_eq!(key_hex(0x0d4d_0001), "0x0d4d0001");
    assert_eq!(key_hex(-1), "0xffffffff");
}

#[test]
fn dead_creator_and_idle_means_leaked() {
    let mut a = Analyzer::new(60.0, T0);
    a.inventory(&inv(32000, vec![]));
    a.on_get(NS, 7, 0x0d4d_0001, 1, creator(100), T0);
    a.on_get(NS, 8, 0x5e5e_0002, 1, creator(101), T0);
    let alive = |pid: u32| pid == 101;
    // Before the leak age nothing is leaked, even with a dead creator.
    assert_eq!(a.leaked_count(T0 + 30.0, alive), 0);
    let (r, f) = a.report(T0 + 61.0, alive);
    let states: Vec<(&str, &str)> = r.sets.iter().map(|s| (s.key.as_str(), s.state)).collect();
    assert!(states.contains(&("0x0d4d0001", "leaked")));
    assert!(states.contains(&("0x5e5e0002", "idle")));
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].severity, Severity::Warning);
    assert_eq!(f[0].evidence["leaked_count"], 1);
    assert_eq!(f[0].evidence["leaked"][0]["creator_comm"], "dockerd");
    assert_eq!(f[0].subject.pid, Some(100));
    assert!(f[0].remediation.contains("dmsetup udevcomplete_all"));
}

#[test]
fn recent_use_keeps_a_set_alive() {
    let mut a = Analyzer::new(60.0, T0);
    a.on_get(NS, 7, 0x1234, 2, creator(100), T0);
    a.on_use(NS, 7, 200, T0 + 100.0);
    let (r, f) = a.report(T0 + 120.0, |_| false);
    assert_eq!(r.sets[0].state, "in_use");
    assert!(f.is_empty());
    // A dead last user and a long idle time make it a leak; not a cookie, so ipcrm is advised.
    let (r, f) = a.report(T0 + 200.0, |_| false);
    assert_eq!(r.sets[0].state, "leaked");
    assert!(f[0].remediation.contains("ipcrm -s 7"));
    assert!(!f[0].remediation.contains("dmsetup"));
}

#[test]
fn removal_traced_or_seen_in_the_inventory() {
    let mut a = Analyzer::new(1.0, T0);
    a.on_get(NS, 7, 1, 1, creator(100), T0);
    a.on_get(NS, 8, 2, 1, creator(100), T0);
    a.on_rmid(NS, 7);
    assert_eq!(a.set_count(), 1);
    // The inventory no longer lists set 8: someone removed it without being traced.
    a.inventory(&inv(32000, vec![]));
    assert_eq!(a.set_count(), 0);
    assert_eq!(a.counts.rmid, 1);
}

#[test]
fn inventory_sets_use_the_last_semop_pid() {
    let mut a = Analyzer::new(60.0, T0);
    let mut r = row(3, 0x5e5e_0003, 1_000);
    r.last_pid = Some(555);
    r.otime = 1_500;
    a.inventory(&inv(32000, vec![r, row(4, 0x0d4d_0004, 1_000)]));
    let (rep, _) = a.report(10_000.0, |pid| pid == 555);
    let by_key = |k: &str| rep.sets.iter().find(|s| s.key == k).unwrap();
    assert_eq!(by_key("0x5e5e0003").state, "idle");
    assert_eq!(by_key("0x5e5e0003").idle_s, 8_500.0);
    assert_eq!(by_key("0x0d4d0004").state, "leaked");
    assert_eq!(by_key("0x0d4d0004").source, "inventory");
    assert_eq!(by_key("0x0d4d0004").age_s, 9_000.0);
}

#[test]
fn a_set_the_inventory_saw_first_keeps_its_traced_creator() {
    let mut a = Analyzer::new(60.0, T0);
    a.inventory(&inv(32000, vec![row(9, 0x0d4d_0009, T0 as i64)]));
    a.on_get(NS, 9, 0x0d4d_0009, 1, creator(42), T0 + 0.4);
    let (r, _) = a.report(T0 + 1.0, |_| true);
    assert_eq!(
        (r.sets[0].source, r.sets[0].creator_pid),
        ("traced", Some(42))
    );
    // A later semget of the same key opens the set; it does not re-create it.
    a.on_get(NS, 9, 0x0d4d_0009, 1, creator(43), T0 + 50.0);
    let (r, _) = a.report(T0 + 51.0, |_| true);
    assert_eq!(r.sets[0].creator_pid, Some(42));
}

#[test]
fn near_semmni_is_critical_and_enospc_counted() {
    let mut a = Analyzer::new(60.0, T0);
    let rows: Vec<SetRow> = (0..9).map(|i| row(i, 0x100 + i, T0 as i64)).collect();
    a.inventory(&inv(10, rows));
    a.on_get_failed(NS, i64::from(libc::ENOSPC));
    a.on_get_failed(NS, i64::from(libc::EACCES));
    let (r, f) = a.report(T0 + 1.0, |_| true);
    assert_eq!(r.namespaces[0].sets_pct, Some(90.0));
    assert_eq!(r.namespaces[0].enospc_failures, 1);
    assert_eq!(r.events.semget_failed, 2);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].severity, Severity::Critical);
    assert_eq!(f[0].evidence["semmni"], 10);
    assert!(f[0].explanation.contains("ENOSPC 1 time"));
    assert!(
        f[0].remediation
            .contains("sysctl -w kernel.sem=\"250 32000 32 20\"")
    );
}

#[test]
fn destroyed_namespaces_are_dropped() {
    let mut a = Analyzer::new(60.0, T0);
    a.on_get(NS + 1, 1, 1, 1, creator(1), T0);
    a.retain_namespaces(|ns| ns == NS);
    assert_eq!(a.set_count(), 0);
}

#[test]
fn an_old_cookie_is_leaked_though_its_creator_lives() {
    let mut a = Analyzer::new(60.0, T0);
    a.on_get(NS, 7, 0x0d4d_0007, 1, creator(100), T0);
    a.on_get(NS, 8, 0x1234, 1, creator(100), T0);
    let (r, f) = a.report(T0 + 61.0, |_| true);
    let state = |k: &str| r.sets.iter().find(|s| s.key == k).unwrap().state;
    assert_eq!(state("0x0d4d0007"), "leaked");
    assert_eq!(state("0x00001234"), "idle");
    assert_eq!(f[0].severity, Severity::Warning);
    // 1 leak in 61 s, 31999 sets left under SEMMNI 32000... with no limits read: no projection.
    assert_eq!(r.namespaces[0].time_to_semmni_s, None);
}

#[test]
fn orphaned_plain_sets_are_info_and_removed_inside_their_namespace() {
    let mut a = Analyzer::new(1.0, T0);
    a.inventory(&inv(100, vec![]));
    a.ns.get_mut(&NS).unwrap().member_pid = Some(4242);
    a.on_get(NS, 7, 0x1234, 1, creator(100), T0 + 1.0);
    a.on_get(NS, 8, 0x1235, 1, creator(100), T0 + 1.0);
    let (r, f) = a.report(T0 + 60.0, |_| false);
    assert_eq!(f[0].severity, Severity::Info);
    assert!(
        f[0].remediation
            .contains("nsenter --ipc --target 4242 ipcrm -s 7 -s 8"),
        "{}",
        f[0].remediation
    );
    // 2 leaks in one minute, 98 sets left under SEMMNI: 49 minutes.
    let ns = &r.namespaces[0];
    assert!((ns.leak_rate_per_min - 2.0).abs() < 1e-6);
    assert!((ns.time_to_semmni_s.unwrap() - 2940.0).abs() < 1.0);
}
