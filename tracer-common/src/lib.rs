//! Types shared by the kernel side (`tracer-ebpf`) and user space (`tracer-user`).
//! Every type here is `#[repr(C)]` and crosses the kernel boundary through a map or ring buffer.
#![no_std]

pub mod seccomp;

/// Names of the maps and globals both sides refer to, so a rename breaks the build, not the run.
pub mod names {
    pub const SELF_TGID: &str = "SELF_TGID";
    pub const FILTER_FLAGS: &str = "FILTER_FLAGS";
    pub const FORK_CHILD_PID_OFFSET: &str = "FORK_CHILD_PID_OFFSET";
    pub const FILTER_PIDS: &str = "FILTER_PIDS";
    pub const FILTER_COMMS: &str = "FILTER_COMMS";
    pub const DROPS: &str = "DROPS";
    pub const PARENTS: &str = "PARENTS";
}

/// Bits of the `FILTER_FLAGS` global.
pub mod filter {
    /// Only tgids present in `FILTER_PIDS` (or matching a comm) are traced.
    pub const BY_PID: u32 = 1;
    /// Only tasks whose comm is in `FILTER_COMMS` (or matching a pid) are traced.
    pub const BY_COMM: u32 = 2;
}

/// Task comm length in the kernel (`TASK_COMM_LEN`).
pub const COMM_LEN: usize = 16;

/// Index into the per-CPU `DROPS` array: why an event could not be recorded.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Drop {
    /// A thread id beyond the size of the in-flight syscall array.
    TidOutOfRange = 0,
    /// The per-(process, syscall) histogram map was full.
    HistMapFull = 1,
    /// The per-(process, syscall) count map was full.
    CountMapFull = 2,
    /// The pid filter map was full when following a fork.
    FilterMapFull = 3,
}

impl Drop {
    pub const COUNT: u32 = 4;
    pub const ALL: [Drop; Self::COUNT as usize] = [
        Drop::TidOutOfRange,
        Drop::HistMapFull,
        Drop::CountMapFull,
        Drop::FilterMapFull,
    ];
    pub const fn name(self) -> &'static str {
        match self {
            Drop::TidOutOfRange => "tid_out_of_range",
            Drop::HistMapFull => "hist_map_full",
            Drop::CountMapFull => "count_map_full",
            Drop::FilterMapFull => "filter_map_full",
        }
    }
}
