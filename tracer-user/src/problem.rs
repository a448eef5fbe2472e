//! The five problems ctrace knows, and which of them have probes yet.

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

    /// Whether probes and an analyzer exist; the others are reported as not implemented.
    pub fn implemented(self) -> bool {
        !matches!(self, Problem::Overlay)
    }
}

/// Finding kinds, fixed for every problem so that reports stay comparable.
#[allow(
    dead_code,
    reason = "the fixed set: each problem's analyzer raises its own as it lands"
)]
pub mod finding_kind {
    pub const SECCOMP_SLOWDOWN: &str = "seccomp_slowdown";
    pub const OVERLAY_COPY_UP: &str = "overlay_copy_up";
    pub const OVERLAY_EXDEV_RENAME: &str = "overlay_exdev_rename";
    pub const SIGPIPE_DELIVERED: &str = "sigpipe_delivered";
    pub const SEM_LEAK: &str = "sem_leak";
    pub const ZOMBIE_ACCUMULATION: &str = "zombie_accumulation";
}
