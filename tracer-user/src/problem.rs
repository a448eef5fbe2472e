//! The five problems ctrace knows, and the finding kinds they raise.

use clap::ValueEnum;
use serde::Serialize;

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Problem {
    Seccomp,
    Overlay,
    Sigpipe,
    Sem,
    Zombie,
}

impl Problem {
    pub const ALL: [Problem; 5] = [
        Problem::Seccomp,
        Problem::Overlay,
        Problem::Sigpipe,
        Problem::Sem,
        Problem::Zombie,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Problem::Seccomp => "seccomp",
            Problem::Overlay => "overlay",
            Problem::Sigpipe => "sigpipe",
            Problem::Sem => "sem",
            Problem::Zombie => "zombie",
        }
    }
}

/// Finding kinds, fixed for every problem so that reports stay comparable.
pub mod finding_kind {
    pub const SECCOMP_SLOWDOWN: &str = "seccomp_slowdown";
    pub const OVERLAY_COPY_UP: &str = "overlay_copy_up";
    pub const OVERLAY_EXDEV_RENAME: &str = "overlay_exdev_rename";
    pub const SIGPIPE_DELIVERED: &str = "sigpipe_delivered";
    pub const SEM_LEAK: &str = "sem_leak";
    pub const ZOMBIE_ACCUMULATION: &str = "zombie_accumulation";
    pub const PID1_SIGNAL_DROPPED: &str = "pid1_signal_dropped";
}
