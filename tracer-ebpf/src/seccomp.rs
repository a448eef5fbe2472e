//! seccomp: per-(process, syscall) latency histograms and counts from raw_syscalls.
//!
//! The same logic is offered as tp_btf, raw_tp and classic tracepoint programs; the loader
//! picks the cheapest one this kernel accepts. Nothing per syscall leaves the kernel.

use aya_ebpf::{
    EbpfContext,
    bindings::BPF_NOEXIST,
    helpers::{bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_ktime_get_ns},
    macros::{btf_tracepoint, map, raw_tracepoint, tracepoint},
    maps::{Array, HashMap, PerCpuHashMap},
    programs::{BtfTracePointContext, RawTracePointContext, TracePointContext},
};
use tracer_common::{
    COMM_LEN, Drop,
    seccomp::{HIST_SLOTS, MAX_KEYS, Start, SysHist, SysKey, log2_slot},
};

use aya_log_ebpf::warn;

use crate::filter::{count_drop, traced};

/// Indexed by thread id; resized to kernel.pid_max at load time.
#[map]
static SYS_START: Array<Start> = Array::with_max_entries(32768, 0);
#[map]
static SYS_HISTS: PerCpuHashMap<SysKey, SysHist> = PerCpuHashMap::with_max_entries(MAX_KEYS, 0);
#[map]
static SYS_COUNTS: PerCpuHashMap<SysKey, u64> = PerCpuHashMap::with_max_entries(MAX_KEYS, 0);
#[map]
static SYS_EPOCH: Array<u64> = Array::with_max_entries(1, 0);
#[map]
static SYS_COMMS: HashMap<u32, [u8; COMM_LEN]> = HashMap::with_max_entries(MAX_KEYS, 0);

/// On the (rare) first sight of a (process, syscall) pair: keep the process's name, so that a
/// process that exits before user space reads /proc is still named.
#[inline(always)]
fn remember_comm(tgid: u32) {
    if let Ok(comm) = bpf_get_current_comm() {
        let _ = SYS_COMMS.insert(&tgid, &comm, 0);
    }
}

#[inline(always)]
fn on_enter<C: EbpfContext>(ctx: &C, nr: i64) {
    let pid_tgid = bpf_get_current_pid_tgid();
    if traced(pid_tgid).is_none() {
        return;
    }
    let tid = pid_tgid as u32;
    match SYS_START.get_ptr_mut(tid) {
        Some(slot) => unsafe {
            (*slot).ts_ns = bpf_ktime_get_ns();
            (*slot).nr = nr as u32;
        },
        None => {
            count_drop(Drop::TidOutOfRange);
            warn!(ctx, "seccomp: tid {} is beyond the in-flight array", tid);
        }
    }
}

#[inline(always)]
fn on_exit<C: EbpfContext>(ctx: &C) {
    let pid_tgid = bpf_get_current_pid_tgid();
    let Some(tgid) = traced(pid_tgid) else {
        return;
    };
    let Some(slot) = SYS_START.get_ptr_mut(pid_tgid as u32) else {
        return;
    };
    let start = unsafe { *slot };
    // 0: the syscall began before we attached, or exit fired twice (execve, rt_sigreturn).
    if start.ts_ns == 0 {
        return;
    }
    unsafe { (*slot).ts_ns = 0 };
    // Entered before a detach (--duty-cycle): its exit was missed, this one is another call's.
    if SYS_EPOCH.get(0).is_some_and(|e| start.ts_ns < *e) {
        return;
    }
    let delta = unsafe { bpf_ktime_get_ns() }.saturating_sub(start.ts_ns);
    let key = SysKey { tgid, nr: start.nr };
    let hist = match SYS_HISTS.get_ptr_mut(&key) {
        Some(h) => h,
        None => {
            // BPF_NOEXIST: another CPU may have inserted it meanwhile; that is fine.
            let _ = SYS_HISTS.insert(&key, &SysHist::ZERO, BPF_NOEXIST as u64);
            remember_comm(tgid);
            match SYS_HISTS.get_ptr_mut(&key) {
                Some(h) => h,
                None => {
                    count_drop(Drop::HistMapFull);
                    warn!(
                        ctx,
                        "seccomp: histogram map full, tgid {} nr {}", tgid, start.nr
                    );
                    return;
                }
            }
        }
    };
    let slot = log2_slot(delta);
    unsafe {
        (*hist).count += 1;
        (*hist).total_ns += delta;
        if slot < HIST_SLOTS {
            (*hist).slots[slot] += 1;
        }
    }
}

#[inline(always)]
fn on_count<C: EbpfContext>(ctx: &C, nr: i64) {
    let pid_tgid = bpf_get_current_pid_tgid();
    let Some(tgid) = traced(pid_tgid) else {
        return;
    };
    let key = SysKey {
        tgid,
        nr: nr as u32,
    };
    match SYS_COUNTS.get_ptr_mut(&key) {
        Some(c) => unsafe { *c += 1 },
        None => {
            remember_comm(tgid);
            if SYS_COUNTS.insert(&key, &1, BPF_NOEXIST as u64).is_err() {
                // Another CPU inserted it first: count through it.
                match SYS_COUNTS.get_ptr_mut(&key) {
                    Some(c) => unsafe { *c += 1 },
                    None => {
                        count_drop(Drop::CountMapFull);
                        warn!(ctx, "seccomp: count map full, tgid {}", tgid);
                    }
                }
            }
        }
    }
}

// tp_btf and raw_tp: sys_enter(struct pt_regs *regs, long id), sys_exit(regs, long ret).

#[btf_tracepoint(function = "sys_enter")]
pub fn seccomp_enter_btf(ctx: BtfTracePointContext) -> i32 {
    on_enter(&ctx, ctx.arg::<i64>(1));
    0
}

#[btf_tracepoint(function = "sys_exit")]
pub fn seccomp_exit_btf(ctx: BtfTracePointContext) -> i32 {
    on_exit(&ctx);
    0
}

#[btf_tracepoint(function = "sys_enter")]
pub fn seccomp_count_btf(ctx: BtfTracePointContext) -> i32 {
    on_count(&ctx, ctx.arg::<i64>(1));
    0
}

#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn seccomp_enter_raw(ctx: RawTracePointContext) -> i32 {
    on_enter(&ctx, ctx.arg::<i64>(1));
    0
}

#[raw_tracepoint(tracepoint = "sys_exit")]
pub fn seccomp_exit_raw(ctx: RawTracePointContext) -> i32 {
    on_exit(&ctx);
    0
}

#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn seccomp_count_raw(ctx: RawTracePointContext) -> i32 {
    on_count(&ctx, ctx.arg::<i64>(1));
    0
}

// Classic tracepoints: raw_syscalls/sys_enter and sys_exit carry `long id` after the 8-byte header.

const TP_ID_OFFSET: usize = 8;

#[tracepoint(category = "raw_syscalls", name = "sys_enter")]
pub fn seccomp_enter_tp(ctx: TracePointContext) -> u32 {
    if let Ok(nr) = unsafe { ctx.read_at::<i64>(TP_ID_OFFSET) } {
        on_enter(&ctx, nr);
    }
    0
}

#[tracepoint(category = "raw_syscalls", name = "sys_exit")]
pub fn seccomp_exit_tp(ctx: TracePointContext) -> u32 {
    on_exit(&ctx);
    0
}

#[tracepoint(category = "raw_syscalls", name = "sys_enter")]
pub fn seccomp_count_tp(ctx: TracePointContext) -> u32 {
    if let Ok(nr) = unsafe { ctx.read_at::<i64>(TP_ID_OFFSET) } {
        on_count(&ctx, nr);
    }
    0
}
