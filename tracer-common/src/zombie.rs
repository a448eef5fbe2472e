//! zombie: process exits and reaps, from the sched tracepoints.

pub const EVENTS: &str = "ZOMBIE_EVENTS";
pub const FREE_PID_OFFSET: &str = "FREE_PID_OFFSET";
/// pid -> exits of that pid not yet freed: the processes that may be zombies now.
pub const WATCH: &str = "ZOMBIE_WATCH";

pub mod kind {
    /// A thread-group leader exited: the process may now be a zombie until its parent reaps it.
    pub const EXIT: u32 = 1;
    /// A process that exited was freed: it has been reaped.
    pub const FREE: u32 = 2;
    /// SIGTERM or SIGINT to PID 1 of a pid namespace was dropped by the kernel (`sig`; `pid` is
    /// the init's host pid; `origin` is the sender).
    pub const INIT_SIGNAL_DROPPED: u32 = 3;
    /// SIGKILL to an init whose SIGTERM or SIGINT was dropped before.
    pub const INIT_KILLED: u32 = 4;
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ZombieEvent {
    /// The task running when the kernel took the event (see `crate::Origin`).
    pub origin: crate::Origin,
    pub ts_ns: u64,
    pub kind: u32,
    pub pid: u32,
    pub comm: [u8; crate::COMM_LEN],
    /// The signal, for the signal kinds.
    pub sig: u32,
    pub _pad: u32,
}

#[cfg(feature = "user")]
mod pod {
    unsafe impl aya::Pod for super::ZombieEvent {}
}
