//! sigpipe: SIGPIPE generation and delivery, the write that raised it, EPIPE failures, and the
//! exits that follow.

pub const EVENTS: &str = "SIGPIPE_EVENTS";
pub const EPIPE_COUNTS: &str = "EPIPE_COUNTS";
pub const WRITE_ARGS: &str = "WRITE_ARGS";
pub const SIGPIPE: i32 = 13;
pub const EPIPE: i64 = 32;

pub mod kind {
    /// signal_generate of SIGPIPE (in the writer's context).
    pub const GENERATE: u32 = 1;
    /// signal_deliver of SIGPIPE: `handler` is SIG_DFL (0), SIG_IGN (1) or a handler address.
    pub const DELIVER: u32 = 2;
    /// A process that got a SIGPIPE exited.
    pub const EXIT: u32 = 3;
    /// The first write of a process that failed with EPIPE.
    pub const EPIPE: u32 = 4;
    /// systemd-journald exited or exec'd (a restart).
    pub const JOURNALD: u32 = 5;
}

/// signal_generate's result: the signal was ignored and discarded.
pub const RESULT_IGNORED: i32 = 1;

/// The write-like syscall in flight on a thread, in a tid-hashed array: `tid` tells whose.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteArgs {
    pub count: u64,
    pub nr: i32,
    pub fd: i32,
    pub tid: u32,
    pub _pad: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SigpipeEvent {
    /// The task running when the kernel took the event (see `crate::Origin`).
    pub origin: crate::Origin,
    pub ts_ns: u64,
    pub handler: u64,
    pub count: u64,
    pub kind: u32,
    /// The task the event is about (target of the signal, writer, exiting process).
    pub pid: u32,
    pub tgid: u32,
    pub nr: i32,
    pub fd: i32,
    pub result: i32,
    pub comm: [u8; crate::COMM_LEN],
}

#[cfg(feature = "user")]
mod pod {
    unsafe impl aya::Pod for super::SigpipeEvent {}
}
