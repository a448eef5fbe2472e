//! overlay: the syscalls that can copy a lower-layer file up, and renames that may fail with EXDEV.

pub const EVENTS: &str = "OVERLAY_EVENTS";
/// The kernel tier: tid -> entry time of the copy-up function in flight.
pub const COPY_UP_START: &str = "OVERLAY_CU_START";
/// The kernel tier, per CPU: [copy-ups outside any traced call, their ns].
pub const COPY_UP_MISSED: &str = "OVERLAY_CU_MISSED";
/// One call per file or directory really copied up (ancestors first).
pub const COPY_UP_FN: &str = "ovl_copy_up_one";
pub const PATH_LEN: usize = 256;
pub const EXDEV: i64 = 18;
/// dfd meaning "relative to the current directory".
pub const AT_FDCWD: i32 = -100;

/// One traced call, copied out at its exit.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct OverlayEvent {
    /// The task running when the kernel took the event (see `crate::Origin`).
    pub origin: crate::Origin,
    pub enter_ns: u64,
    pub exit_ns: u64,
    pub ret: i64,
    pub flags: u64,
    /// Kernel tier: time in the copy-up function during this call (0 in the tracepoint tier).
    pub copy_up_ns: u64,
    /// Kernel tier: copy-ups during this call (the file, and ancestors not yet copied up).
    pub copy_ups: u32,
    pub pid: u32,
    pub tgid: u32,
    pub nr: i32,
    pub dfd: i32,
    pub dfd2: i32,
    pub comm: [u8; crate::COMM_LEN],
    pub path: [u8; PATH_LEN],
    /// The second path of link and rename.
    pub path2: [u8; PATH_LEN],
}

impl OverlayEvent {
    pub const ZERO: OverlayEvent = OverlayEvent {
        origin: crate::Origin::ZERO,
        enter_ns: 0,
        exit_ns: 0,
        ret: 0,
        flags: 0,
        copy_up_ns: 0,
        copy_ups: 0,
        pid: 0,
        tgid: 0,
        nr: 0,
        dfd: 0,
        dfd2: 0,
        comm: [0; crate::COMM_LEN],
        path: [0; PATH_LEN],
        path2: [0; PATH_LEN],
    };
}

#[cfg(feature = "user")]
mod pod {
    unsafe impl aya::Pod for super::OverlayEvent {}
}
