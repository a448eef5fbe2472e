//! seccomp, sampled cost: a perf_event program on cpu-clock (every CPU) counts samples per
//! process, cgroup, kernel stack and slow-path reasons. No syscall probe is involved, so the
//! tasks keep the syscall path they would have without ctrace. User space tells the seccomp
//! path's stacks apart with /proc/kallsyms.

use aya_ebpf::{
    EbpfContext,
    bindings::BPF_F_REUSE_STACKID,
    helpers::{
        bpf_get_current_cgroup_id, bpf_get_current_pid_tgid, bpf_get_current_task,
        bpf_probe_read_kernel,
    },
    macros::{map, perf_event},
    maps::{PerCpuArray, PerCpuHashMap, StackTrace},
    programs::{PerfEventContext, tracing::StackIdContext},
};
use tracer_common::seccomp::{
    LAYOUT_TIF, NO_STACK, SAMPLE_KEYS, STACK_SLOTS, SampleKey, WORK_AT_DEFAULT, WORK_SECCOMP,
    work_of_tif,
};

use crate::filter::traced;

#[map]
static SECCOMP_STACKS: StackTrace = StackTrace::with_max_entries(STACK_SLOTS, 0);
#[map]
static SECCOMP_SAMPLES: PerCpuHashMap<SampleKey, u64> =
    PerCpuHashMap::with_max_entries(SAMPLE_KEYS, 0);
#[map]
static SECCOMP_SAMPLE_DROPS: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

/// Where the slow-path bits are (`tracer_common::seccomp::WORK_AT`), set from BTF at load.
#[unsafe(no_mangle)]
static SECCOMP_WORK_AT: [u32; 2] = WORK_AT_DEFAULT;

/// `__seccomp_filter`'s text, `[start, end)` (`tracer_common::seccomp::FILTER_TEXT`), set
/// from /proc/kallsyms at load.
#[unsafe(no_mangle)]
static SECCOMP_FILTER_TEXT: [u64; 2] = [0, 0];

/// Whether the interrupted code was just entered from `__seccomp_filter`: a JIT'd filter's
/// first instructions run before its frame pointer is set, so the stack unwinds to that one
/// frame, but the caller's return address is still at `[sp]` (or `[sp+8]` after the push).
#[inline(always)]
fn entered_from_filter(ctx: &PerfEventContext) -> bool {
    // SAFETY: volatile reads of a static the loader rewrites (the compiler must not fold it).
    let (start, end) = unsafe {
        (
            core::ptr::read_volatile(&SECCOMP_FILTER_TEXT[0]),
            core::ptr::read_volatile(&SECCOMP_FILTER_TEXT[1]),
        )
    };
    if start == 0 {
        return false;
    }
    // SAFETY: the context is bpf_perf_event_data, which begins with the interrupted pt_regs;
    // sp is its 20th word on x86_64, inside the context the verifier lets us read.
    let sp = unsafe { *(ctx.as_ptr() as *const u64).add(19) };
    let mut i = 0;
    while i < 2 {
        // SAFETY: a checked kernel read (bpf_probe_read_kernel); a bad address is an error.
        let word: u64 = unsafe { bpf_probe_read_kernel((sp + 8 * i) as *const u64) }.unwrap_or(0);
        if word >= start && word < end {
            return true;
        }
        i += 1;
    }
    false
}

/// The current task's slow-path reasons as `WORK_*` bits: `thread_info.syscall_work` (5.11+)
/// or the TIF bits of `thread_info.flags` (before), whichever the kernel's BTF showed.
#[inline(always)]
fn syscall_work() -> u32 {
    // SAFETY: volatile reads of a static the loader rewrites (the compiler must not fold it).
    let (at, layout) = unsafe {
        (
            core::ptr::read_volatile(&SECCOMP_WORK_AT[0]),
            core::ptr::read_volatile(&SECCOMP_WORK_AT[1]),
        )
    };
    let task = unsafe { bpf_get_current_task() };
    // SAFETY: a checked kernel read (bpf_probe_read_kernel) of the current task's word.
    let word: u64 =
        unsafe { bpf_probe_read_kernel((task + u64::from(at)) as *const u64) }.unwrap_or(0);
    match layout {
        LAYOUT_TIF => work_of_tif(word),
        _ => word as u32,
    }
}

#[perf_event]
pub fn seccomp_sample(ctx: PerfEventContext) -> u32 {
    let pid_tgid = bpf_get_current_pid_tgid();
    // The idle task: nothing to attribute.
    if pid_tgid >> 32 == 0 {
        return 0;
    }
    let Some(tgid) = traced(pid_tgid) else {
        return 0;
    };
    // Only a task with a filter can be in the seccomp path: the others are counted without
    // the stack walk, the costly part.
    let work = syscall_work();
    let stack_id = if work & WORK_SECCOMP == 0 {
        NO_STACK
    } else {
        ctx.get_stackid(&SECCOMP_STACKS, u64::from(BPF_F_REUSE_STACKID))
            .map_or(NO_STACK, |id| id as i32)
    };
    // SAFETY: bpf_perf_event_data starts with the interrupted pt_regs; ip is its 17th word
    // on x86_64, inside the context the verifier lets us read.
    let ip = unsafe { *(ctx.as_ptr() as *const u64).add(16) };
    // Only in kernel mode (the upper half) is the stack pointer a kernel address.
    let in_filter = work & WORK_SECCOMP != 0 && ip >> 63 == 1 && entered_from_filter(&ctx);
    let key = SampleKey {
        cgroup_id: unsafe { bpf_get_current_cgroup_id() },
        tgid,
        stack_id,
        work,
        in_filter: in_filter as u32,
        ip: if stack_id == NO_STACK { 0 } else { ip },
    };
    if let Some(n) = SECCOMP_SAMPLES.get_ptr_mut(&key) {
        unsafe { *n += 1 };
    } else if SECCOMP_SAMPLES.insert(&key, &1, 0).is_err()
        && let Some(d) = SECCOMP_SAMPLE_DROPS.get_ptr_mut(0)
    {
        unsafe { *d += 1 };
    }
    0
}
