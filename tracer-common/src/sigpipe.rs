//! sigpipe: SIGPIPE generation and delivery, the write that raised it, EPIPE failures, and the
//! exits that follow.

pub const EVENTS: &str = "SIGPIPE_EVENTS";
pub const EPIPE_COUNTS: &str = "EPIPE_COUNTS";
pub const WRITE_ARGS: &str = "WRITE_ARGS";
pub const TOTALS: &str = "SIGPIPE_TOTALS";
pub const OFFSETS: &str = "SIGPIPE_OFFSETS";
/// Detailed records shipped per (process, total key) and CPU, then one at each power of two;
/// the totals count every one.
pub const RECORDS_PER_KEY: u64 = 64;
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

/// signal_generate's result (TRACE_SIGNAL_* in the kernel).
pub mod result {
    /// Queued for the task (delivered at its next return to user space unless blocked).
    pub const DELIVERED: i32 = 0;
    /// Its disposition is SIG_IGN (or default-ignore): discarded.
    pub const IGNORED: i32 = 1;
    /// A SIGPIPE was already pending: this one merged with it.
    pub const ALREADY_PENDING: i32 = 2;
    pub const OVERFLOW_FAIL: i32 = 3;
    /// Queued without its siginfo (no memory for it).
    pub const LOSE_INFO: i32 = 4;
}

/// What a `TotalKey` counts: a generation by result, a delivery by disposition, a death.
pub mod total {
    /// 0..=4: generated, by `result`; a DELIVERED one while the thread blocks SIGPIPE is
    /// `GEN_BLOCKED` instead.
    pub const GEN_BLOCKED: u32 = 5;
    pub const DELIVER_DEFAULT: u32 = 8;
    pub const DELIVER_IGNORE: u32 = 9;
    pub const DELIVER_HANDLER: u32 = 10;
    /// The process died of SIGPIPE (its exit code's signal bits).
    pub const DIED: u32 = 16;
}

/// Per-process totals, exact at any rate (a per-CPU hash map; user space sums the CPUs).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TotalKey {
    pub tgid: u32,
    pub what: u32,
}

/// Bits of `SigpipeEvent::facts`: what the kernel side could read at the event.
pub mod fact {
    /// `blocked` (for a SIGPIPE raised by the writer itself) and, on EXIT, `exit_code`.
    pub const TASK: u32 = 1;
    /// `ino`, `mode`, `family` and `peer` of the fd written to.
    pub const FD: u32 = 2;
}

/// Member offsets from the kernel's BTF, filled by user space; `ok` 0: none (no BTF).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Offsets {
    pub ok: u32,
    pub task_blocked: u32,
    pub task_exit_code: u32,
    pub task_files: u32,
    pub files_fdt: u32,
    pub fdt_fd: u32,
    pub fdt_max_fds: u32,
    pub file_inode: u32,
    pub file_private: u32,
    pub inode_ino: u32,
    pub inode_mode: u32,
    pub socket_sk: u32,
    pub sk_family: u32,
    pub unix_peer: u32,
    pub unix_addr: u32,
    pub addr_len: u32,
    pub addr_name: u32,
    pub _pad: u32,
}

/// Bytes of a unix socket peer's path kept in the event: all of sun_path.
pub const PEER_LEN: usize = 108;

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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
    /// `fact::*` bits.
    pub facts: u32,
    /// The writer's thread blocks SIGPIPE (with `fact::TASK`).
    pub blocked: u32,
    /// EXIT: the task's exit_code (with `fact::TASK`); the killing signal is `& 0x7f`.
    pub exit_code: i32,
    /// The tgid of the task that raised the signal (GENERATE).
    pub sender: u32,
    /// The fd's inode number and mode (S_IFIFO, S_IFSOCK, ...), with `fact::FD`.
    pub ino: u64,
    pub mode: u32,
    /// A socket's address family (AF_UNIX 1, AF_INET 2, AF_INET6 10).
    pub family: u32,
    /// A unix socket's peer's bound path (NUL padded; a leading NUL: abstract).
    pub peer: [u8; PEER_LEN],
    pub comm: [u8; crate::COMM_LEN],
}

impl Default for SigpipeEvent {
    fn default() -> Self {
        // Plain integers and byte arrays: all zeroes is a valid value.
        unsafe { core::mem::zeroed() }
    }
}

#[cfg(feature = "user")]
mod pod {
    unsafe impl aya::Pod for super::SigpipeEvent {}
    unsafe impl aya::Pod for super::TotalKey {}
    unsafe impl aya::Pod for super::Offsets {}
}
