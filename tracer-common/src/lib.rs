//! Types shared by the kernel side (`tracer-ebpf`) and user space (`tracer-user`).
//! Every type here is `#[repr(C)]` and crosses the kernel boundary through a map or ring buffer.
#![no_std]

pub mod origin;
pub mod overlay;
pub mod seccomp;
pub mod sem;
pub mod sigpipe;
pub mod syscalls;
pub mod zombie;

pub use origin::Origin;

/// Names of the maps and globals both sides refer to, so a rename breaks the build, not the run.
pub mod names {
    pub const SELF_TGID: &str = "SELF_TGID";
    pub const FILTER_FLAGS: &str = "FILTER_FLAGS";
    pub const FORK_CHILD_PID_OFFSET: &str = "FORK_CHILD_PID_OFFSET";
    pub const EXIT_GROUP_DEAD_OFFSET: &str = "EXIT_GROUP_DEAD_OFFSET";
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
    /// Only tasks whose cgroup2 id is in `FILTER_CGROUPS` (or matching the others) are traced:
    /// `--container` in the kernel, from a process's first syscall in the container.
    pub const BY_CGROUP: u32 = 4;
}

/// Task comm length in the kernel (`TASK_COMM_LEN`).
pub const COMM_LEN: usize = 16;

/// Index into the per-CPU `DROPS` array: why an event could not be recorded.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Drop {
    /// A thread id beyond the size of the in-flight syscall array.
    TidOutOfRange = 0,
    /// The per-(process, syscall) histogram map was full.
    HistMapFull = 1,
    /// The per-(process, syscall) count map was full.
    CountMapFull = 2,
    /// A forked child of a traced process is beyond kernel.pid_max (the filter array's size).
    FilterMapFull = 3,
    /// The sem ring buffer was full.
    SemRingFull = 4,
    /// Too many semget/semctl calls in flight to pair entry with exit.
    SemArgsFull = 5,
    /// The zombie ring buffer was full.
    ZombieRingFull = 6,
    /// Too many exited processes awaiting their reap to track.
    ZombieWatchFull = 7,
    /// The sigpipe ring buffer was full.
    SigpipeRingFull = 8,
    /// The overlay ring buffer was full.
    OverlayRingFull = 9,
    /// Too many overlay-relevant calls in flight to pair entry with exit.
    OverlayArgsFull = 10,
    /// A syscall's start was overwritten by another thread's in the tid-hashed in-flight array.
    SeccompSlotTaken = 11,
    /// A write's record was overwritten by another thread's in the tid-hashed in-flight array.
    SigpipeSlotTaken = 12,
    /// The per-process SIGPIPE totals map was full: a process's signals went uncounted.
    SigpipeTotalsFull = 13,
    /// Userspace: sem's records waited past the queue's bound between the drain and the analysis.
    SemQueueFull = 14,
    /// Userspace: zombie's records past the queue's bound.
    ZombieQueueFull = 15,
    /// Userspace: sigpipe's records past the queue's bound.
    SigpipeQueueFull = 16,
    /// Userspace: overlay's records past the queue's bound.
    OverlayQueueFull = 17,
    /// Userspace: cgroup births (attribution's feed) past the queue's bound.
    CgroupQueueFull = 18,
    /// Too many exec'd processes awaiting their re-attribution: one keeps its name from before.
    ExecMapFull = 19,
}

impl Drop {
    pub const COUNT: u32 = 20;
    pub const ALL: [Drop; Self::COUNT as usize] = [
        Drop::TidOutOfRange,
        Drop::HistMapFull,
        Drop::CountMapFull,
        Drop::FilterMapFull,
        Drop::SemRingFull,
        Drop::SemArgsFull,
        Drop::ZombieRingFull,
        Drop::ZombieWatchFull,
        Drop::SigpipeRingFull,
        Drop::OverlayRingFull,
        Drop::OverlayArgsFull,
        Drop::SeccompSlotTaken,
        Drop::SigpipeSlotTaken,
        Drop::SigpipeTotalsFull,
        Drop::SemQueueFull,
        Drop::ZombieQueueFull,
        Drop::SigpipeQueueFull,
        Drop::OverlayQueueFull,
        Drop::CgroupQueueFull,
        Drop::ExecMapFull,
    ];
    pub const fn name(self) -> &'static str {
        match self {
            Drop::TidOutOfRange => "tid_out_of_range",
            Drop::HistMapFull => "hist_map_full",
            Drop::CountMapFull => "count_map_full",
            Drop::FilterMapFull => "filter_map_full",
            Drop::SemRingFull => "sem_ring_full",
            Drop::SemArgsFull => "sem_args_full",
            Drop::ZombieRingFull => "zombie_ring_full",
            Drop::ZombieWatchFull => "zombie_watch_full",
            Drop::SigpipeRingFull => "sigpipe_ring_full",
            Drop::OverlayRingFull => "overlay_ring_full",
            Drop::OverlayArgsFull => "overlay_args_full",
            Drop::SeccompSlotTaken => "seccomp_slot_taken",
            Drop::SigpipeSlotTaken => "sigpipe_slot_taken",
            Drop::SigpipeTotalsFull => "sigpipe_totals_full",
            Drop::SemQueueFull => "sem_queue_full",
            Drop::ZombieQueueFull => "zombie_queue_full",
            Drop::SigpipeQueueFull => "sigpipe_queue_full",
            Drop::OverlayQueueFull => "overlay_queue_full",
            Drop::CgroupQueueFull => "cgroup_queue_full",
            Drop::ExecMapFull => "exec_map_full",
        }
    }

    /// The problem whose events were lost.
    pub const fn problem(self) -> &'static str {
        match self {
            Drop::TidOutOfRange
            | Drop::HistMapFull
            | Drop::CountMapFull
            | Drop::SeccompSlotTaken
            | Drop::ExecMapFull => "seccomp",
            Drop::FilterMapFull | Drop::CgroupQueueFull => "filter",
            Drop::SemRingFull | Drop::SemArgsFull | Drop::SemQueueFull => "sem",
            Drop::ZombieRingFull | Drop::ZombieWatchFull | Drop::ZombieQueueFull => "zombie",
            Drop::SigpipeRingFull
            | Drop::SigpipeSlotTaken
            | Drop::SigpipeTotalsFull
            | Drop::SigpipeQueueFull => "sigpipe",
            Drop::OverlayRingFull | Drop::OverlayArgsFull | Drop::OverlayQueueFull => "overlay",
        }
    }
}
