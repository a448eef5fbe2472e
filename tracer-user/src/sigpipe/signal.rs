//! One SIGPIPE as it was generated, delivered and (perhaps) fatal.

use tracer_common::sigpipe::{SIGPIPE, result};

use super::fds::FdInfo;
use crate::attrib::Container;

/// Without BTF (no exit code from the kernel): an exit this soon after a SIGPIPE with the
/// default disposition is taken for death by SIGPIPE.
pub const DEATH_WINDOW_S: f64 = 2.0;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Signal {
    pub at: f64,
    pub tgid: u32,
    pub tid: u32,
    pub comm: String,
    pub container: Option<Container>,
    /// The write-like syscall in flight (None when the signal was sent by another process).
    pub syscall: Option<String>,
    pub fd: Option<i32>,
    pub fd_info: Option<FdInfo>,
    pub size: u64,
    /// Sent by the process to itself outside a write (raise, tgkill).
    pub raised: bool,
    /// signal_generate's result (`result::*`).
    pub result: i32,
    /// The writer's thread blocked SIGPIPE (from its mask in the kernel).
    pub blocked: bool,
    /// From signal_deliver: 0 SIG_DFL, 1 SIG_IGN, else a handler.
    pub handler: Option<u64>,
    /// The handler ran, and then the process raised SIGPIPE again with the default action (the
    /// Go runtime does so for a write to fd 1 or 2): the two are one event.
    pub reraised: bool,
    pub exited_at: Option<f64>,
    /// The process's exit code from the kernel (`& 0x7f`: the signal that killed it).
    pub exit_code: Option<i32>,
    /// Why the process is watched (a daemon name, a journald client), if it is.
    pub watched: Option<String>,
}

impl Signal {
    pub fn ignored_at_generation(&self) -> bool {
        self.result == result::IGNORED
    }

    pub fn outcome(&self) -> &'static str {
        if self.died() {
            return "fatal";
        }
        match self.result {
            result::IGNORED => return "ignored",
            result::ALREADY_PENDING => return "already_pending",
            result::OVERFLOW_FAIL => return "lost",
            _ => {}
        }
        if self.reraised {
            return "default";
        }
        match self.handler {
            Some(0) => "default",
            Some(1) => "ignored",
            Some(_) => "handled",
            None if self.blocked => "blocked",
            None => "pending",
        }
    }

    /// How the signal was disposed of.
    pub fn disposition(&self) -> &'static str {
        if self.ignored_at_generation() {
            return "ignored";
        }
        match self.handler {
            Some(0) => "default",
            Some(1) => "ignored",
            Some(_) if self.reraised => "handled, then default",
            Some(_) => "handled",
            None if self.blocked => "blocked",
            None => "unknown",
        }
    }

    /// This SIGPIPE is what killed the process: it died of SIGPIPE (its exit code, from the
    /// kernel) and this one reached the default action.
    pub fn died(&self) -> bool {
        if self.ignored_at_generation() || self.result == result::ALREADY_PENDING {
            return false;
        }
        let reached_default = self.reraised || matches!(self.handler, None | Some(0));
        if let Some(code) = self.exit_code {
            return reached_default && code & 0x7f == SIGPIPE;
        }
        reached_default
            && !self.blocked
            && self
                .exited_at
                .is_some_and(|e| e - self.at <= DEATH_WINDOW_S)
    }
}

/// What a written fd is to its process: its log (fd 1 or 2, or a journald stream), a client
/// connection (any other socket), something else, or unknown (no write seen).
pub fn fd_role(fd: Option<i32>, info: Option<&FdInfo>) -> &'static str {
    let journald = info
        .and_then(|f| f.peer.as_deref())
        .is_some_and(|p| p.starts_with("/run/systemd/journal/"));
    if matches!(fd, Some(1 | 2)) || journald {
        return "log";
    }
    match info.map(|f| f.kind) {
        Some("unix" | "tcp") => "client",
        Some(_) => "other",
        None if fd.is_some() => "other",
        None => "unknown",
    }
}
