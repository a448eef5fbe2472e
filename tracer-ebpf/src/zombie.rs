//! zombie: leader exits (sched_process_exit) and the frees that follow a reap
//! (sched_process_free). Whether an exited process is a zombie, and whose, user space reads
//! from /proc, where a zombie stays until it is reaped.

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

use crate::filter::{count_drop, traced};

/// Offset of `pid` in the sched_process_free record (it moved when comm became __data_loc).
#[unsafe(no_mangle)]
static FREE_PID_OFFSET: Global<u32> = Global::new(12);

#[map]
static ZOMBIE_EVENTS: RingBuf = RingBuf::with_byte_size(1024 * 1024, 0);
/// Exited leaders whose free is still to come.
#[map]
static ZOMBIE_WATCH: HashMap<u32, u8> = HashMap::with_max_entries(65536, BPF_F_NO_PREALLOC);

#[inline(always)]
fn emit(kind: u32, pid: u32, comm: [u8; 16], origin: Origin) {
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
    let Some(tgid) = traced(pid_tgid) else {
        return 0;
    };
    if ZOMBIE_WATCH.insert(tgid, 1, 0).is_err() {
        count_drop(Drop::ZombieWatchFull);
    }
    emit(
        kind::EXIT,
        tgid,
        bpf_get_current_comm().unwrap_or_default(),
        crate::origin::current(),
    );
    0
}

/// Runs after the reap, from an RCU callback: not in the process's context.
#[tracepoint(category = "sched", name = "sched_process_free")]
pub fn zombie_free(ctx: TracePointContext) -> u32 {
    let Ok(pid) = (unsafe { ctx.read_at::<u32>(FREE_PID_OFFSET.load() as usize) }) else {
        return 0;
    };
    if unsafe { ZOMBIE_WATCH.get(pid) }.is_none() {
        return 0;
    }
    let _ = ZOMBIE_WATCH.remove(pid);
    // Not the reaped process's context: no origin.
    emit(kind::FREE, pid, [0; 16], Origin::ZERO);
    0
}
