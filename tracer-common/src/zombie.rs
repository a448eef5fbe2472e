//! zombie: process exits and reaps, from the sched tracepoints.

pub const EVENTS: &str = "ZOMBIE_EVENTS";
pub const FREE_PID_OFFSET: &str = "FREE_PID_OFFSET";

pub mod kind {
    /// A thread-group leader exited: the process may now be a zombie until its parent reaps it.
    pub const EXIT: u32 = 1;
    /// A process that exited was freed: it has been reaped.
    pub const FREE: u32 = 2;
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
}

#[cfg(feature = "user")]
mod pod {
    unsafe impl aya::Pod for super::ZombieEvent {}
}
