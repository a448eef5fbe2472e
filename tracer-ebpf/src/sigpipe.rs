//! sigpipe: the write-like syscalls from the syscall dispatcher (to know what was being written
//! when SIGPIPE came), signal_generate/signal_deliver of SIGPIPE, EPIPE failures, and exits and
//! journald restarts.

use aya_ebpf::{
    bindings::BPF_F_NO_PREALLOC,
    helpers::{bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_ktime_get_ns},
    macros::{map, tracepoint},
    maps::{Array, HashMap, LruHashMap, RingBuf},
    programs::TracePointContext,
};
use tracer_common::{
    Drop,
    sigpipe::{EPIPE, SIGPIPE, SigpipeEvent, WriteArgs, kind},
    syscalls::nr,
};

use crate::{
    filter::{count_drop, traced},
    syscall::{Enter, Exit, inflight_slot},
};

#[map]
static SIGPIPE_EVENTS: RingBuf = RingBuf::with_byte_size(256 * 1024, 0);
/// Indexed by `inflight_slot(tid)` (sized at load): the write in flight.
#[map]
static WRITE_ARGS: Array<WriteArgs> = Array::with_max_entries(32768, 0);
/// tgid -> writes that failed with EPIPE.
#[map]
static EPIPE_COUNTS: HashMap<u32, u64> = HashMap::with_max_entries(16384, BPF_F_NO_PREALLOC);
/// tgid -> when it last got a SIGPIPE, so that its exit is reported.
#[map]
static PIPED: LruHashMap<u32, u64> = LruHashMap::with_max_entries(4096, 0);

#[inline(always)]
fn emit(kind: u32, pid_tgid: u64, handler: u64, args: WriteArgs, result: i32, comm: [u8; 16]) {
    let Some(mut slot) = SIGPIPE_EVENTS.reserve::<SigpipeEvent>(0) else {
        count_drop(Drop::SigpipeRingFull);
        return;
    };
    slot.write(SigpipeEvent {
        origin: crate::origin::current(),
        ts_ns: unsafe { bpf_ktime_get_ns() },
        handler,
        count: args.count,
        kind,
        pid: pid_tgid as u32,
        tgid: (pid_tgid >> 32) as u32,
        nr: args.nr,
        fd: args.fd,
        result,
        comm,
    });
    slot.submit(0);
}

/// The write in flight on `tid`, if its slot still holds it.
fn current_write(tid: u32) -> WriteArgs {
    WRITE_ARGS
        .get(inflight_slot(tid))
        .copied()
        .filter(|a| a.tid == tid)
        .unwrap_or_default()
}

/// A traced task enters a write-like call: keep its fd and size for a SIGPIPE or EPIPE.
#[inline(always)]
pub fn on_enter(call: &Enter) {
    let tid = call.pid_tgid as u32;
    let Some(slot) = WRITE_ARGS.get_ptr_mut(inflight_slot(tid)) else {
        return;
    };
    let a = call.regs.args();
    let nr = call.nr as u32;
    unsafe {
        // Another thread's write is in flight in this slot: its record is lost.
        if (*slot).nr != 0 && (*slot).tid != tid {
            count_drop(Drop::SigpipeSlotTaken);
        }
        (*slot).tid = tid;
        (*slot).nr = nr as i32;
        (*slot).fd = a[0] as i32;
        // writev, pwritev and sendmsg carry a vector, not a size: unknown (0).
        (*slot).count = if VECTOR_CALLS.contains(&nr) { 0 } else { a[2] };
    }
}

const VECTOR_CALLS: [u32; 3] = [nr::WRITEV, nr::SENDMSG, nr::PWRITEV];

/// A write-like call returns (on any task: a traced write left its record).
#[inline(always)]
pub fn on_exit(call: &Exit) {
    let pid_tgid = call.pid_tgid;
    let tid = pid_tgid as u32;
    let args = current_write(tid);
    // The write is over: a later SIGPIPE from an untraced call must not be blamed on it.
    if args.tid == tid
        && let Some(slot) = WRITE_ARGS.get_ptr_mut(inflight_slot(tid))
    {
        unsafe { *slot = WriteArgs::default() };
    }
    if call.ret != -EPIPE {
        return;
    }
    let Some(tgid) = traced(pid_tgid) else {
        return;
    };
    match EPIPE_COUNTS.get_ptr_mut(tgid) {
        Some(n) => unsafe { *n += 1 },
        None => {
            let _ = EPIPE_COUNTS.insert(tgid, 1, 0);
            let comm = bpf_get_current_comm().unwrap_or_default();
            emit(kind::EPIPE, pid_tgid, 0, args, 0, comm);
        }
    }
}

// signal/signal_generate: sig 8, comm[16] 20, pid 36, group 40, result 44.
#[tracepoint(category = "signal", name = "signal_generate")]
pub fn sigpipe_generate(ctx: TracePointContext) -> u32 {
    if unsafe { ctx.read_at::<i32>(8) } != Ok(SIGPIPE) {
        return 0;
    }
    let target = unsafe { ctx.read_at::<u32>(36) }.unwrap_or(0);
    let result = unsafe { ctx.read_at::<i32>(44) }.unwrap_or(-1);
    let comm = unsafe { ctx.read_at::<[u8; 16]>(20) }.unwrap_or_default();
    let current = bpf_get_current_pid_tgid();
    // SIGPIPE is raised by the writer on itself: the write in flight is the one that failed.
    // Sent by another process (kill): the target's thread id stands in for its process.
    let (args, tgid) = if current as u32 == target {
        (current_write(target), (current >> 32) as u32)
    } else {
        (WriteArgs::default(), target)
    };
    let _ = PIPED.insert(tgid, unsafe { bpf_ktime_get_ns() }, 0);
    emit(
        kind::GENERATE,
        (u64::from(tgid) << 32) | u64::from(target),
        0,
        args,
        result,
        comm,
    );
    0
}

// signal/signal_deliver: sig 8, sa_handler 24 (in the receiver's context).
#[tracepoint(category = "signal", name = "signal_deliver")]
pub fn sigpipe_deliver(ctx: TracePointContext) -> u32 {
    if unsafe { ctx.read_at::<i32>(8) } != Ok(SIGPIPE) {
        return 0;
    }
    let handler = unsafe { ctx.read_at::<u64>(24) }.unwrap_or(0);
    let comm = bpf_get_current_comm().unwrap_or_default();
    emit(
        kind::DELIVER,
        bpf_get_current_pid_tgid(),
        handler,
        WriteArgs::default(),
        0,
        comm,
    );
    0
}

const JOURNALD: &[u8; 15] = b"systemd-journal";

fn is_journald(comm: &[u8; 16]) -> bool {
    comm[..15] == JOURNALD[..]
}

#[tracepoint(category = "sched", name = "sched_process_exit")]
pub fn sigpipe_exit(_ctx: TracePointContext) -> u32 {
    let pid_tgid = bpf_get_current_pid_tgid();
    if pid_tgid as u32 != (pid_tgid >> 32) as u32 {
        return 0;
    }
    let tgid = pid_tgid as u32;
    let comm = bpf_get_current_comm().unwrap_or_default();
    if unsafe { PIPED.get(tgid) }.is_some() {
        let _ = PIPED.remove(tgid);
        emit(kind::EXIT, pid_tgid, 0, WriteArgs::default(), 0, comm);
    } else if is_journald(&comm) {
        emit(kind::JOURNALD, pid_tgid, 0, WriteArgs::default(), 0, comm);
    }
    0
}

#[tracepoint(category = "sched", name = "sched_process_exec")]
pub fn sigpipe_exec(_ctx: TracePointContext) -> u32 {
    let comm = bpf_get_current_comm().unwrap_or_default();
    if is_journald(&comm) {
        emit(
            kind::JOURNALD,
            bpf_get_current_pid_tgid(),
            1,
            WriteArgs::default(),
            0,
            comm,
        );
    }
    0
}
