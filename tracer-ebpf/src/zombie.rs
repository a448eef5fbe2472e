//! zombie: leader exits (sched_process_exit) and the frees that follow a reap
//! (sched_process_free). The set of exited, not yet freed processes is kept here, so the zombies
//! now are known whatever the ring buffer drops or user space has drained: user space counts
//! those of them still in /proc as zombies (the free comes an RCU grace period after the reap).
//! Whose zombie each is, user space reads from /proc, where a zombie stays until it is reaped.

use aya_ebpf::{
    Global,
    bindings::BPF_F_NO_PREALLOC,
    helpers::{bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_ktime_get_ns},
    macros::{map, tracepoint},
    maps::{HashMap, RingBuf},
    programs::TracePointContext,
};
use tracer_common::{
    Drop, Origin,
    zombie::{ZombieEvent, kind},
};

use crate::filter::{count_drop, traced_at_exit};

/// Offset of `pid` in the sched_process_free record (it moved when comm became __data_loc).
#[unsafe(no_mangle)]
static FREE_PID_OFFSET: Global<u32> = Global::new(12);

#[map]
static ZOMBIE_EVENTS: RingBuf = RingBuf::with_byte_size(1024 * 1024, 0);
/// Exited leaders whose free is still to come: pid -> exits of that pid not yet freed (a pid
/// is released at the reap, before the RCU-delayed free, so it can exit again meanwhile).
#[map]
static ZOMBIE_WATCH: HashMap<u32, u32> = HashMap::with_max_entries(65536, BPF_F_NO_PREALLOC);

#[inline(always)]
pub fn emit(kind: u32, pid: u32, comm: [u8; 16], origin: Origin, sig: u32) {
    let Some(mut slot) = ZOMBIE_EVENTS.reserve::<ZombieEvent>(0) else {
        count_drop(Drop::ZombieRingFull);
        return;
    };
    slot.write(ZombieEvent {
        origin,
        ts_ns: unsafe { bpf_ktime_get_ns() },
        kind,
        pid,
        comm,
        sig,
        _pad: 0,
    });
    slot.submit(0);
}

#[tracepoint(category = "sched", name = "sched_process_exit")]
pub fn zombie_exit(_ctx: TracePointContext) -> u32 {
    let pid_tgid = bpf_get_current_pid_tgid();
    // Only the leader's exit matters: the process is reaped as a whole.
    if pid_tgid as u32 != (pid_tgid >> 32) as u32 {
        return 0;
    }
    let Some(tgid) = traced_at_exit(pid_tgid) else {
        return 0;
    };
    let pending = unsafe { ZOMBIE_WATCH.get(tgid) }.copied().unwrap_or(0);
    if ZOMBIE_WATCH.insert(tgid, pending + 1, 0).is_err() {
        count_drop(Drop::ZombieWatchFull);
    }
    emit(
        kind::EXIT,
        tgid,
        bpf_get_current_comm().unwrap_or_default(),
        crate::origin::current(),
        0,
    );
    0
}

/// Runs after the reap, from an RCU callback: not in the process's context.
#[tracepoint(category = "sched", name = "sched_process_free")]
pub fn zombie_free(ctx: TracePointContext) -> u32 {
    let Ok(pid) = (unsafe { ctx.read_at::<u32>(FREE_PID_OFFSET.load() as usize) }) else {
        return 0;
    };
    let Some(pending) = (unsafe { ZOMBIE_WATCH.get(pid) }).copied() else {
        return 0;
    };
    if pending > 1 {
        let _ = ZOMBIE_WATCH.insert(pid, pending - 1, 0);
    } else {
        let _ = ZOMBIE_WATCH.remove(pid);
    }
    // Not the reaped process's context: no origin.
    emit(kind::FREE, pid, [0; 16], Origin::ZERO, 0);
    0
}
