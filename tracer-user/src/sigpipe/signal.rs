//! One SIGPIPE as it was generated, delivered and (perhaps) fatal.

use super::fds::FdInfo;
use crate::attrib::Container;

/// An exit this soon after a SIGPIPE with the default disposition is death by SIGPIPE.
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
    pub ignored_at_generation: bool,
    /// From signal_deliver: 0 SIG_DFL, 1 SIG_IGN, else a handler.
    pub handler: Option<u64>,
    pub exited_at: Option<f64>,
    /// Why the process is watched (a daemon name, a journald client), if it is.
    pub watched: Option<String>,
}

impl Signal {
    pub fn outcome(&self) -> &'static str {
        if self.ignored_at_generation {
            return "ignored";
        }
        match self.handler {
            Some(0) if self.died() => "fatal",
            Some(0) => "default",
            Some(1) => "ignored",
            Some(_) => "handled",
            None if self.died() => "fatal",
            None => "pending",
        }
    }

    pub fn died(&self) -> bool {
        !self.ignored_at_generation
            && matches!(self.handler, None | Some(0))
            && self
                .exited_at
                .is_some_and(|e| e - self.at <= DEATH_WINDOW_S)
    }
}
