//! seccomp: per-syscall latency and counts, aggregated in the kernel.

/// Number of log2 latency buckets: slot k counts syscalls that took [2^k, 2^(k+1)) ns.
pub const HIST_SLOTS: usize = 32;

pub const START: &str = "SYS_START";
pub const HISTS: &str = "SYS_HISTS";
pub const COUNTS: &str = "SYS_COUNTS";
/// One slot: the ktime of the last (re)attach; starts before it belong to a detached period.
pub const EPOCH: &str = "SYS_EPOCH";
/// tgid -> `Seen`, written when a process first shows up and again at each execve, so exited
/// processes keep a name, a container and their seccomp state.
pub const COMMS: &str = "SYS_COMMS";
/// tgids that exec'd since the last drain: user space names them again (a process first seen
/// as `runc:[2:INIT]` is the container's command after its execve).
pub const EXECS: &str = "SYS_EXECS";
/// Room for the execs of one drain interval (250 ms) on a busy node.
pub const MAX_EXECS: u32 = 8192;
/// `Seen::mode` when the kernel's offsets were unknown (no BTF).
pub const MODE_UNKNOWN: u32 = u32::MAX;

/// What the kernel saw of a process at its first syscall, refreshed after each execve (runc
/// installs the container's filter just before it execs the container's command).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seen {
    pub origin: crate::Origin,
    /// task->seccomp.mode: 0 disabled, 1 strict, 2 filter; `MODE_UNKNOWN` without BTF.
    pub mode: u32,
    /// task->seccomp.filter_count: filters attached to the task.
    pub filters: u32,
}

#[cfg(feature = "user")]
mod seen_pod {
    unsafe impl aya::Pod for super::Seen {}
}
/// Entries in the per-(process, syscall) maps as built; resized at load (`--max-syscall-keys`,
/// by default from the number of CPUs). A busy node has a few thousand live pairs.
pub const MAX_KEYS: u32 = 65536;

/// Key of the histogram and count maps: one entry per process and syscall number.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SysKey {
    pub tgid: u32,
    pub nr: u32,
}

/// A syscall in flight on one thread: set at sys_enter, consumed at sys_exit. Kept in a
/// tid-hashed array; `tid` tells whose call the slot holds.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Start {
    pub ts_ns: u64,
    pub nr: u32,
    pub tid: u32,
}

/// Latency histogram of one (process, syscall) pair on one CPU.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SysHist {
    pub count: u64,
    pub total_ns: u64,
    pub slots: [u64; HIST_SLOTS],
}

impl SysHist {
    pub const ZERO: SysHist = SysHist {
        count: 0,
        total_ns: 0,
        slots: [0; HIST_SLOTS],
    };
}

/// The log2 bucket of a latency; shared so that user space and kernel agree on the edges.
#[inline(always)]
pub fn log2_slot(ns: u64) -> usize {
    if ns == 0 {
        return 0;
    }
    let s = 63 - ns.leading_zeros() as usize;
    if s >= HIST_SLOTS { HIST_SLOTS - 1 } else { s }
}

#[cfg(feature = "user")]
mod pod {
    unsafe impl aya::Pod for super::SysKey {}
    unsafe impl aya::Pod for super::Start {}
    unsafe impl aya::Pod for super::SysHist {}
}

/// The kernel tier: tid -> entry time of `__secure_computing` in flight.
pub const FILTER_START: &str = "FILTER_START";
/// The kernel tier: tgid -> time spent in `__secure_computing` (per CPU).
pub const FILTER_COST: &str = "FILTER_COST";
/// The function whose duration is the filter's own cost per syscall.
pub const FILTER_FN: &str = "__secure_computing";

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct FilterCost {
    pub calls: u64,
    pub total_ns: u64,
}

#[cfg(feature = "user")]
mod filter_pod {
    unsafe impl aya::Pod for super::FilterCost {}
}

/// Sampled cost: the perf_event program on cpu-clock, per CPU.
pub const SAMPLE_PROGRAM: &str = "seccomp_sample";
/// Sampled cost: (process, cgroup, kernel stack, slow-path reasons) -> samples (per CPU).
pub const SAMPLES: &str = "SECCOMP_SAMPLES";
/// Sampled cost: stack id -> the kernel stack of the interrupted task.
pub const STACKS: &str = "SECCOMP_STACKS";
/// Sampled cost: samples not counted because the sample map was full (one per-CPU slot).
pub const SAMPLE_DROPS: &str = "SECCOMP_SAMPLE_DROPS";
/// Stack id of a sample taken in user mode (no kernel stack).
pub const NO_STACK: i32 = -1;
/// Distinct (process, stack) pairs between two drains of the sample map.
pub const SAMPLE_KEYS: u32 = 16384;
/// Kernel stacks the stack map holds (1 MiB: only filtered tasks record one); a colliding
/// stack replaces the older one.
pub const STACK_SLOTS: u32 = 1024;

/// Bits of `thread_info.syscall_work` (include/linux/thread_info.h): why a task takes the slow
/// syscall path. Only `WORK_SECCOMP` set: the slow path is seccomp's alone.
pub const WORK_SECCOMP: u32 = 1 << 0;
/// The slow-path reasons that are not seccomp (tracepoint, ptrace, emulation, audit, user
/// dispatch).
pub const WORK_OTHERS: u32 = 0b11_1110;

/// The load-time global saying where a task's slow-path bits are: `[offset in task_struct,
/// layout]`, from the kernel's BTF.
pub const WORK_AT: &str = "SECCOMP_WORK_AT";
/// `thread_info.syscall_work` (from 5.11): the bits are `WORK_*` already.
pub const LAYOUT_SYSCALL_WORK: u32 = 0;
/// `thread_info.flags` (before 5.11): x86_64's TIF bits, translated to `WORK_*`.
pub const LAYOUT_TIF: u32 = 1;
/// x86_64's TIF bits of the syscall slow path (arch/x86/include/asm/thread_info.h), in the
/// order of the `WORK_*` bits: TIF_SECCOMP, TIF_SYSCALL_TRACEPOINT, TIF_SYSCALL_TRACE,
/// TIF_SYSCALL_EMU, TIF_SYSCALL_AUDIT.
pub const TIF_WORK: [u32; 5] = [8, 28, 0, 6, 7];
/// Where the bits are when BTF says nothing: `syscall_work` right after the `flags` word.
pub const WORK_AT_DEFAULT: [u32; 2] = [8, LAYOUT_SYSCALL_WORK];

/// The load-time global bounding `__seccomp_filter`'s text: `[start, end)`, from
/// /proc/kallsyms; zeros (never matched) where it is hidden.
pub const FILTER_TEXT: &str = "SECCOMP_FILTER_TEXT";

/// `WORK_*` bits of a TIF flags word.
#[inline(always)]
pub fn work_of_tif(flags: u64) -> u32 {
    let mut work = 0;
    let mut i = 0;
    while i < TIF_WORK.len() {
        if flags >> TIF_WORK[i] & 1 != 0 {
            work |= 1 << i;
        }
        i += 1;
    }
    work
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SampleKey {
    /// The task's cgroup (v2) id.
    pub cgroup_id: u64,
    pub tgid: u32,
    /// Into `STACKS`; `NO_STACK` for a sample in user mode.
    pub stack_id: i32,
    /// The task's `syscall_work` bits at the sample (`WORK_*`).
    pub work: u32,
    /// 1 when one of the two words at the interrupted stack pointer is a return address into
    /// `__seccomp_filter` (`FILTER_TEXT`): a sample at the entry of a JIT'd filter, before
    /// its frame exists, which the unwinder leaves as a one-frame stack.
    pub in_filter: u32,
    /// The interrupted instruction: a stack whose first frame differs was replaced in the
    /// stack map by a colliding one before it was read.
    pub ip: u64,
}

#[cfg(feature = "user")]
mod sample_pod {
    unsafe impl aya::Pod for super::SampleKey {}
}

#[cfg(test)]
mod work_tests {
    use super::*;

    #[test]
    fn tif_seccomp_alone_is_the_seccomp_bit_and_tracepoint_is_another_reason() {
        assert_eq!(work_of_tif(1 << 8), WORK_SECCOMP);
        assert_eq!(work_of_tif(1 << 8 | 1 << 28), WORK_SECCOMP | 1 << 1);
        assert_eq!(work_of_tif(1 << 28) & WORK_SECCOMP, 0);
        // TIF_SIGPENDING, TIF_NEED_RESCHED: not slow-path reasons.
        assert_eq!(work_of_tif(1 << 2 | 1 << 3), 0);
        assert_eq!(work_of_tif(1 << 7) & !WORK_OTHERS, 0);
    }
}
