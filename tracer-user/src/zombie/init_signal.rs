//! The finding `pid1_signal_dropped`: SIGTERM or SIGINT to PID 1 of a pid namespace that the
//! kernel dropped (no handler), and the SIGKILL that came after. Pure: fed the kernel's events
//! with what /proc said about the init, so it is unit-tested with recorded data.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::{
    attrib::{Container, Origin},
    problem::finding_kind,
    shared::{Finding, Severity, Subject},
};

/// One init whose stop signal was dropped.
#[derive(Clone, Debug, Serialize)]
pub struct InitSignal {
    /// Host pid of the namespace's PID 1.
    pub pid: u32,
    pub comm: String,
    pub container_id: Option<String>,
    pub container_name: Option<String>,
    #[serde(flatten)]
    pub origin: Origin,
    /// "SIGTERM" or "SIGINT" (the first dropped).
    pub signal: &'static str,
    /// How many of them were dropped.
    pub dropped: u64,
    pub sender_pid: u32,
    pub sender_comm: String,
    /// Unix seconds of the first drop.
    pub dropped_at: f64,
    /// Seconds from the first drop to the SIGKILL (null: not killed while ctrace watched).
    pub killed_after_s: Option<f64>,
    /// "default" (no handler: the kernel's init protection) or "ignored" (SIG_IGN set), from
    /// the init's SigIgn in /proc.
    pub handler: &'static str,
}

pub fn signal_name(sig: u32) -> &'static str {
    match sig {
        2 => "SIGINT",
        15 => "SIGTERM",
        _ => "signal",
    }
}

#[derive(Default)]
pub struct InitSignals {
    pub inits: BTreeMap<u32, InitSignal>,
}

/// What user space knew about the init and the sender at the drop.
pub struct Drop {
    pub pid: u32,
    pub comm: String,
    pub container: Option<Container>,
    pub sig: u32,
    pub sender_pid: u32,
    pub sender_comm: String,
    pub at: f64,
    pub explicitly_ignored: bool,
}

impl InitSignals {
    pub fn dropped(&mut self, d: Drop) {
        let e = self.inits.entry(d.pid).or_insert_with(|| InitSignal {
            pid: d.pid,
            comm: d.comm.clone(),
            container_id: d.container.as_ref().map(|c| c.id.clone()),
            container_name: d.container.as_ref().and_then(|c| c.name.clone()),
            origin: Origin::of(d.container.as_ref()),
            signal: signal_name(d.sig),
            dropped: 0,
            sender_pid: d.sender_pid,
            sender_comm: d.sender_comm.clone(),
            dropped_at: d.at,
            killed_after_s: None,
            handler: if d.explicitly_ignored {
                "ignored"
            } else {
                "default"
            },
        });
        e.dropped += 1;
    }

    pub fn killed(&mut self, pid: u32, at: f64) {
        if let Some(e) = self.inits.get_mut(&pid)
            && e.killed_after_s.is_none()
        {
            e.killed_after_s = Some((at - e.dropped_at).max(0.0));
        }
    }

    pub fn findings(&self) -> Vec<Finding> {
        self.inits.values().map(finding).collect()
    }
}

fn finding(s: &InitSignal) -> Finding {
    let place = s
        .container_name
        .clone()
        .or(s
            .container_id
            .as_ref()
            .map(|i| i.chars().take(12).collect()))
        .map_or("its pid namespace".to_string(), |c| {
            format!("container {c}")
        });
    let why = if s.handler == "ignored" {
        "it set the signal to SIG_IGN"
    } else {
        "the kernel gives PID 1 of a pid namespace no default action for a signal it has no handler \
         for"
    };
    let mut explanation = format!(
        "{} from `{}` (pid {}) to PID 1 `{}` (host pid {}) of {place} was dropped{}: {why}. The \
         application never learnt it should stop.",
        s.signal,
        s.sender_comm,
        s.sender_pid,
        s.comm,
        s.pid,
        if s.dropped > 1 {
            format!(" ({} times)", s.dropped)
        } else {
            String::new()
        },
    );
    match s.killed_after_s {
        Some(w) => explanation.push_str(&format!(
            " SIGKILL followed {w:.1}s later (`docker stop` waits out its timeout, then kills): no \
             graceful shutdown, and every stop takes that long."
        )),
        None => explanation.push_str(
            " No SIGKILL came while ctrace watched; `docker stop` would wait out its timeout and kill it.",
        ),
    }
    Finding {
        kind: finding_kind::PID1_SIGNAL_DROPPED,
        severity: Severity::Warning,
        subject: Subject {
            pid: Some(s.pid),
            comm: Some(s.comm.clone()),
            container_id: s.container_id.clone(),
            container_name: s.container_name.clone(),
            origin: s.origin.clone(),
        },
        evidence: serde_json::json!({
            "pid": s.pid,
            "comm": s.comm,
            "signal": s.signal,
            "dropped": s.dropped,
            "handler": s.handler,
            "sender_pid": s.sender_pid,
            "sender_comm": s.sender_comm,
            "killed_after_s": s.killed_after_s,
        }),
        explanation,
        remediation: format!(
            "Run an init as PID 1 that forwards signals to the application: `docker run --init` (or \
             `init: true` in compose, tini or dumb-init as the entrypoint). Or make `{}` handle {} \
             itself (a shell entrypoint: `trap` it, or `exec` the application so it is PID 1 with its \
             own handler).",
            s.comm, s.signal
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drop_of(pid: u32, sig: u32, at: f64) -> Drop {
        Drop {
            pid,
            comm: "sleep".into(),
            container: None,
            sig,
            sender_pid: 77,
            sender_comm: "runc".into(),
            at,
            explicitly_ignored: false,
        }
    }

    #[test]
    fn a_dropped_sigterm_then_sigkill_gives_the_wait() {
        let mut s = InitSignals::default();
        s.dropped(drop_of(500, 15, 100.0));
        s.dropped(drop_of(500, 15, 101.0));
        s.killed(500, 110.5);
        s.killed(600, 111.0); // not an init we saw: nothing
        let f = s.findings();
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, "pid1_signal_dropped");
        assert_eq!(f[0].evidence["signal"], "SIGTERM");
        assert_eq!(f[0].evidence["dropped"], 2);
        assert_eq!(f[0].evidence["killed_after_s"], 10.5);
        assert!(f[0].explanation.contains("10.5s later"));
        assert!(f[0].remediation.contains("--init"));
    }

    #[test]
    fn sigint_without_a_kill() {
        let mut s = InitSignals::default();
        s.dropped(drop_of(9, 2, 1.0));
        let f = s.findings();
        assert_eq!(f[0].evidence["signal"], "SIGINT");
        assert_eq!(f[0].evidence["killed_after_s"], serde_json::Value::Null);
    }
}
