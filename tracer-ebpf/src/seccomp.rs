//! seccomp: per-(process, syscall) latency histograms and counts, called by the syscall
//! dispatcher (`dispatch.rs`) on every call. Nothing per syscall leaves the kernel.

use aya_ebpf::{
    EbpfContext,
    bindings::{BPF_F_NO_PREALLOC, BPF_NOEXIST},
    helpers::{bpf_get_current_pid_tgid, bpf_ktime_get_ns},
    macros::{map, tracepoint},
    maps::{Array, HashMap, PerCpuHashMap},
    programs::TracePointContext,
};
use tracer_common::{
    Drop,
    seccomp::{
        HIST_SLOTS, MAX_EXECS, MAX_KEYS, MODE_UNKNOWN, Seen, Start, SysHist, SysKey, log2_slot,
    },
};

use aya_log_ebpf::warn;

use crate::{
    filter::{count_drop, traced},
    syscall::{Enter, Exit, inflight_slot},
};

/// Indexed by `inflight_slot(tid)`; sized at load (pid_max, at most 65,536 slots).
#[map]
static SYS_START: Array<Start> = Array::with_max_entries(32768, 0);
// Not preallocated: the kernel allocates a key's per-CPU values on its first sight (rare), so
// memory follows the live pairs, up to the cap set at load.
#[map]
static SYS_HISTS: PerCpuHashMap<SysKey, SysHist> =
    PerCpuHashMap::with_max_entries(MAX_KEYS, BPF_F_NO_PREALLOC);
#[map]
static SYS_COUNTS: PerCpuHashMap<SysKey, u64> =
    PerCpuHashMap::with_max_entries(MAX_KEYS, BPF_F_NO_PREALLOC);
/// [0]: the ktime of the last (re)attach; [1]: non-zero while paused (--duty-cycle with other
/// problems on the same programs).
#[map]
static SYS_EPOCH: Array<u64> = Array::with_max_entries(2, 0);
#[map]
static SYS_COMMS: HashMap<u32, Seen> = HashMap::with_max_entries(MAX_KEYS, BPF_F_NO_PREALLOC);
#[map]
static SYS_EXECS: HashMap<u32, u8> = HashMap::with_max_entries(MAX_EXECS, BPF_F_NO_PREALLOC);

/// On the (rare) first sight of a (process, syscall) pair, and after each execve: keep the
/// process's origin and seccomp state, so that a process that exits before user space reads
/// /proc is still named, attributed and shown with the right mode.
#[inline(always)]
fn remember(tgid: u32) {
    let (mode, filters) = crate::origin::seccomp().unwrap_or((MODE_UNKNOWN, 0));
    let seen = Seen {
        origin: crate::origin::current(),
        mode,
        filters,
    };
    let _ = SYS_COMMS.insert(&tgid, &seen, 0);
}

/// Entered before a detach (--duty-cycle) or while paused: the exit is another period's.
#[inline(always)]
fn paused() -> bool {
    SYS_EPOCH.get(1).is_some_and(|p| *p != 0)
}

#[inline(always)]
pub fn on_enter<C: EbpfContext>(ctx: &C, call: &Enter) {
    if paused() {
        return;
    }
    let tid = call.pid_tgid as u32;
    match SYS_START.get_ptr_mut(inflight_slot(tid)) {
        Some(slot) => unsafe {
            // Another thread's call is in flight in this slot: its latency is lost.
            if (*slot).ts_ns != 0 && (*slot).tid != tid {
                count_drop(Drop::SeccompSlotTaken);
            }
            (*slot).ts_ns = bpf_ktime_get_ns();
            (*slot).nr = call.nr as u32;
            (*slot).tid = tid;
        },
        None => {
            count_drop(Drop::TidOutOfRange);
            warn!(ctx, "seccomp: tid {} is beyond the in-flight array", tid);
        }
    }
}

#[inline(always)]
pub fn on_exit<C: EbpfContext>(ctx: &C, call: &Exit) {
    let pid_tgid = call.pid_tgid;
    let Some(tgid) = traced(pid_tgid) else {
        return;
    };
    let tid = pid_tgid as u32;
    let Some(slot) = SYS_START.get_ptr_mut(inflight_slot(tid)) else {
        return;
    };
    let start = unsafe { *slot };
    // 0: the syscall began before we attached, or exit fired twice (execve, rt_sigreturn).
    // Another tid: the slot was taken meanwhile (counted there).
    if start.ts_ns == 0 || start.tid != tid {
        return;
    }
    unsafe { (*slot).ts_ns = 0 };
    // Entered before a detach or a pause (--duty-cycle): its exit was missed, this one is
    // another call's.
    if paused() || SYS_EPOCH.get(0).is_some_and(|e| start.ts_ns < *e) {
        return;
    }
    let delta = unsafe { bpf_ktime_get_ns() }.saturating_sub(start.ts_ns);
    let key = SysKey { tgid, nr: start.nr };
    let hist = match SYS_HISTS.get_ptr_mut(&key) {
        Some(h) => h,
        None => {
            // BPF_NOEXIST: another CPU may have inserted it meanwhile; that is fine.
            let _ = SYS_HISTS.insert(&key, &SysHist::ZERO, BPF_NOEXIST as u64);
            remember(tgid);
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
pub fn on_count<C: EbpfContext>(ctx: &C, call: &Enter) {
    if paused() {
        return;
    }
    let tgid = call.tgid;
    let key = SysKey {
        tgid,
        nr: call.nr as u32,
    };
    match SYS_COUNTS.get_ptr_mut(&key) {
        Some(c) => unsafe { *c += 1 },
        None => {
            remember(tgid);
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

/// sched_process_exec: the process's state after the exec (a filter installed just before it,
/// as runc does, shows), for a process gone before user space reads /proc.
#[tracepoint(category = "sched", name = "sched_process_exec")]
pub fn seccomp_exec(_ctx: TracePointContext) -> u32 {
    if let Some(tgid) = traced(bpf_get_current_pid_tgid()) {
        remember(tgid);
        // After `remember`: user space that takes the tgid from here reads the new state.
        if SYS_EXECS.insert(&tgid, &1, 0).is_err() {
            count_drop(Drop::ExecMapFull);
        }
    }
    0
}
