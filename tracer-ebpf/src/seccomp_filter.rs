//! seccomp, kernel tier: the filter's own time per syscall, as the duration of
//! `__secure_computing` (called on syscall entry only for tasks that have a filter). Offered as
//! fentry/fexit and as kprobe/kretprobe; the loader takes the first this kernel accepts.

use aya_ebpf::{
    EbpfContext,
    bindings::{BPF_F_NO_PREALLOC, BPF_NOEXIST},
    helpers::{bpf_get_current_pid_tgid, bpf_ktime_get_ns},
    macros::{fentry, fexit, kprobe, kretprobe, map},
    maps::{HashMap, PerCpuHashMap},
    programs::{FEntryContext, FExitContext, ProbeContext, RetProbeContext},
};
use tracer_common::{
    Drop,
    seccomp::{FilterCost, MAX_KEYS},
};

use crate::filter::{count_drop, traced};

#[map]
static FILTER_START: HashMap<u32, u64> = HashMap::with_max_entries(16384, BPF_F_NO_PREALLOC);
#[map]
static FILTER_COST: PerCpuHashMap<u32, FilterCost> =
    PerCpuHashMap::with_max_entries(MAX_KEYS, BPF_F_NO_PREALLOC);

#[inline(always)]
fn enter() {
    let pid_tgid = bpf_get_current_pid_tgid();
    if traced(pid_tgid).is_none() {
        return;
    }
    let now = unsafe { bpf_ktime_get_ns() };
    let _ = FILTER_START.insert(&(pid_tgid as u32), &now, 0);
}

#[inline(always)]
fn exit<C: EbpfContext>(_ctx: &C) {
    let pid_tgid = bpf_get_current_pid_tgid();
    let tid = pid_tgid as u32;
    let Some(&start) = (unsafe { FILTER_START.get(&tid) }) else {
        return;
    };
    let _ = FILTER_START.remove(&tid);
    let delta = unsafe { bpf_ktime_get_ns() }.saturating_sub(start);
    let tgid = (pid_tgid >> 32) as u32;
    if FILTER_COST.get_ptr_mut(&tgid).is_none() {
        let _ = FILTER_COST.insert(&tgid, &FilterCost::default(), BPF_NOEXIST as u64);
    }
    match FILTER_COST.get_ptr_mut(&tgid) {
        Some(c) => unsafe {
            (*c).calls += 1;
            (*c).total_ns += delta;
        },
        None => count_drop(Drop::HistMapFull),
    }
}

#[fentry(function = "__secure_computing")]
pub fn seccomp_filter_fentry(_ctx: FEntryContext) -> u32 {
    enter();
    0
}

#[fexit(function = "__secure_computing")]
pub fn seccomp_filter_fexit(ctx: FExitContext) -> u32 {
    exit(&ctx);
    0
}

#[kprobe]
pub fn seccomp_filter_kprobe(_ctx: ProbeContext) -> u32 {
    enter();
    0
}

#[kretprobe]
pub fn seccomp_filter_kretprobe(ctx: RetProbeContext) -> u32 {
    exit(&ctx);
    0
}
