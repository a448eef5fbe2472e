//! sem: SysV semaphore set lifecycle events (semget, semctl IPC_RMID, semop use).

pub const EVENTS: &str = "SEM_EVENTS";

/// What a `SemEvent` reports.
pub mod kind {
    /// semget returned (`ret` is the semid, or -errno).
    pub const GET: u32 = 1;
    /// semctl(IPC_RMID) returned (`ret` is 0 or -errno).
    pub const RMID: u32 = 2;
    /// semop/semtimedop on a set (rate-limited in the kernel to one per process, set and second).
    pub const USE: u32 = 3;
}

/// semctl's command that removes a set.
pub const IPC_RMID: i32 = 0;
/// Minimum gap between two USE events of one (process, set) pair.
pub const USE_EVERY_NS: u64 = 1_000_000_000;

/// One semaphore syscall, copied out through the `SEM_EVENTS` ring buffer.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SemEvent {
    /// The task running when the kernel took the event (see `crate::Origin`).
    pub origin: crate::Origin,
    pub ts_ns: u64,
    pub ret: i64,
    pub kind: u32,
    pub semid: i32,
    pub key: i32,
    pub nsems: i32,
    pub flags: i32,
    pub cmd: i32,
}

/// Arguments saved at a semget/semctl entry, consumed at its exit.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct SemArgs {
    pub key: i32,
    pub nsems: i32,
    pub flags: i32,
    pub semid: i32,
    pub cmd: i32,
    pub kind: u32,
}

#[cfg(feature = "user")]
mod pod {
    unsafe impl aya::Pod for super::SemEvent {}
}
