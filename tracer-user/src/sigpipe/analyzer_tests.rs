//! sigpipe analyzer fed with recorded events.

use super::*;
use crate::shared::Severity;
use tracer_common::sigpipe::{SIGPIPE, result};

const T0: f64 = 1_700_000_000.0;

fn pipe_fd() -> Option<FdInfo> {
    Some(FdInfo {
        kind: "pipe",
        inode: Some(4242),
        local: None,
        peer: None,
    })
}

fn signal(comm: &str, watched: bool) -> Signal {
    Signal {
        at: T0,
        tgid: 100,
        tid: 100,
        comm: comm.into(),
        syscall: Some("write".into()),
        fd: Some(2),
        fd_info: pipe_fd(),
        size: 120,
        watched: watched.then(|| comm.to_string()),
        ..Default::default()
    }
}

#[test]
fn watched_daemon_killed_by_sigpipe_is_critical() {
    let mut a = Analyzer::default();
    a.on_journald(T0 - 3.0);
    a.on_generate(signal("dockerd", true));
    a.on_deliver(100, 0, T0, Signal::default);
    a.on_exit(100, T0 + 0.01, Some(SIGPIPE), Signal::default);
    let (r, f) = a.report();
    assert_eq!((r.sigpipes, r.deaths), (1, 1));
    assert_eq!(r.by_outcome.get("fatal"), Some(&1));
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].severity, Severity::Critical);
    let e = &f[0].evidence;
    assert_eq!(
        (
            e["outcome"].as_str(),
            e["fd_kind"].as_str(),
            e["syscall"].as_str()
        ),
        (Some("fatal"), Some("pipe"), Some("write"))
    );
    assert_eq!(e["journald_restart_s_before"], 3.0);
    assert!(
        f[0].explanation
            .contains("systemd-journald restarted 3.0s before")
    );
    assert!(f[0].explanation.contains("a pipe (inode 4242)"));
    assert!(f[0].remediation.contains("Restart dockerd"));
}

#[test]
fn ignored_sigpipe_with_epipe_failures_is_a_warning() {
    let mut a = Analyzer::default();
    let mut s = signal("dockerd", true);
    s.result = result::IGNORED;
    a.on_generate(s);
    a.on_epipe(
        EpipeRow {
            pid: 100,
            comm: "dockerd".into(),
            count: 1,
            syscall: Some("write".into()),
            fd: Some(2),
            fd_info: pipe_fd(),
        },
        Some("dockerd".into()),
    );
    a.set_epipe_counts(BTreeMap::from([(100, 7)]));
    let (r, f) = a.report();
    assert_eq!(r.epipe[0].count, 7);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].severity, Severity::Warning);
    assert_eq!(f[0].evidence["epipe_count"], 7);
    assert_eq!(f[0].evidence["outcome"], "ignored");
    assert!(f[0].explanation.contains("7 write(s) failed with EPIPE"));
}

#[test]
fn unwatched_processes_count_but_raise_nothing() {
    let mut a = Analyzer::default();
    a.on_generate(signal("yes", false));
    a.on_deliver(100, 0, T0, Signal::default);
    a.on_exit(100, T0 + 0.1, Some(SIGPIPE), Signal::default);
    let (r, f) = a.report();
    assert_eq!(r.sigpipes, 1);
    assert_eq!(r.by_comm.get("yes"), Some(&1));
    assert!(f.is_empty());
}

#[test]
fn the_exit_code_decides_a_death_not_the_timing() {
    // Handled, then an exit of SIGPIPE: not this signal's doing (no re-raise seen).
    let mut a = Analyzer::default();
    a.on_generate(signal("containerd", true));
    a.on_deliver(100, 0x55aa, T0, Signal::default);
    a.on_exit(100, T0 + 0.1, Some(0), Signal::default);
    assert_eq!(a.signals[0].outcome(), "handled");
    // Default delivery and a death of SIGPIPE long after (it was stopped meanwhile): fatal.
    let mut b = Analyzer::default();
    b.on_generate(signal("containerd", true));
    b.on_deliver(100, 0, T0, Signal::default);
    b.on_exit(100, T0 + 30.0, Some(SIGPIPE), Signal::default);
    assert_eq!(b.signals[0].outcome(), "fatal");
    // An exit of status 0 right after: not a death.
    let mut c = Analyzer::default();
    c.on_generate(signal("containerd", true));
    c.on_exit(100, T0 + 0.01, Some(0), Signal::default);
    assert!(!c.signals[0].died());
    // Neither died nor saw EPIPE: no finding.
    assert!(a.report().1.is_empty() && c.report().1.is_empty());
}

#[test]
fn blocked_sigpipe_stays_pending_and_is_not_fatal() {
    let mut a = Analyzer::default();
    let mut s = signal("dockerd", true);
    s.blocked = true;
    a.on_generate(s.clone());
    s.result = result::ALREADY_PENDING;
    a.on_generate(s);
    a.on_exit(100, T0 + 0.01, Some(0), Signal::default);
    a.set_epipe_counts(BTreeMap::from([(100, 2)]));
    let (r, f) = a.report();
    assert_eq!(r.deaths, 0);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].severity, Severity::Warning, "its log (fd 2) is lost");
    assert_eq!(f[0].evidence["outcome"], "blocked");
    assert!(f[0].explanation.contains("blocked by the writing thread"));
}

#[test]
fn go_runtime_reraise_is_merged_with_the_write() {
    let mut a = Analyzer::default();
    let mut s = signal("dockerd", true);
    s.fd = Some(1);
    a.on_generate(s);
    a.on_deliver(100, 0x4_6a20, T0, Signal::default);
    // dieFromSignal: tgkill from the same thread, no write in flight, through the runtime's
    // handler (which forwards to SIG_DFL), then again with the default action.
    let raise = Signal {
        at: T0 + 0.001,
        tgid: 100,
        tid: 100,
        comm: "dockerd".into(),
        raised: true,
        watched: Some("dockerd".into()),
        ..Default::default()
    };
    a.on_generate(raise.clone());
    a.on_deliver(100, 0x4_6a20, T0 + 0.001, Signal::default);
    a.on_generate(raise);
    a.on_deliver(100, 0, T0 + 0.001, Signal::default);
    a.on_exit(100, T0 + 0.002, Some(SIGPIPE), Signal::default);
    assert_eq!(a.signals.len(), 1, "one event, not two");
    let (_, f) = a.report();
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].severity, Severity::Critical);
    assert_eq!(f[0].evidence["reraised"], true);
    assert_eq!(f[0].evidence["fd"], 1);
    assert!(
        f[0].explanation
            .contains("wrote 120 bytes with write() to fd 1")
    );
    assert!(f[0].explanation.contains("Go runtime"));
}

#[test]
fn a_client_going_away_is_info_without_restart_advice() {
    let mut a = Analyzer::default();
    let mut s = signal("dockerd", true);
    s.fd = Some(19);
    s.fd_info = Some(FdInfo {
        kind: "unix",
        inode: Some(77),
        local: Some("/run/docker.sock".into()),
        peer: None,
    });
    a.on_generate(s);
    a.on_deliver(100, 0x4_6a20, T0, Signal::default);
    a.set_epipe_counts(BTreeMap::from([(100, 1)]));
    let (_, f) = a.report();
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].severity, Severity::Info);
    assert_eq!(f[0].evidence["fd_role"], "client");
    assert!(f[0].explanation.contains("client connection, not its log"));
    let fix = &f[0].remediation;
    assert!(
        !fix.contains("Restart ") && !fix.contains("restart it"),
        "{fix}"
    );
}

#[test]
fn a_death_without_its_record_still_counts() {
    let mut a = Analyzer::default();
    a.on_exit(100, T0 + 0.01, Some(SIGPIPE), || signal("dockerd", true));
    let (r, f) = a.report();
    assert_eq!(r.deaths, 1);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].severity, Severity::Critical);
}
