//! sem: semget, semctl(IPC_RMID) and semop/semtimedop from the per-syscall tracepoints, which
//! fire only on these calls. Events are rare, so each one goes to user space whole.

use aya_ebpf::{
    helpers::{bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_ktime_get_ns},
    macros::{map, tracepoint},
    maps::{HashMap, LruHashMap, RingBuf},
    programs::TracePointContext,
};
use tracer_common::{
    Drop,
    sem::{IPC_RMID, SemArgs, SemEvent, USE_EVERY_NS, kind},
};

use crate::filter::{count_drop, traced};

#[map]
static SEM_EVENTS: RingBuf = RingBuf::with_byte_size(256 * 1024, 0);
/// tid -> arguments of the semget/semctl in flight.
#[map]
static SEM_ARGS: HashMap<u32, SemArgs> = HashMap::with_max_entries(4096, 0);
/// (tgid << 32 | semid) -> last USE event sent.
#[map]
static SEM_USE_SEEN: LruHashMap<u64, u64> = LruHashMap::with_max_entries(16384, 0);

// syscalls/sys_enter_*: arguments are 8-byte slots from offset 16; sys_exit_*: `long ret` at 16.
const ARG0: usize = 16;

#[inline(always)]
fn arg(ctx: &TracePointContext, n: usize) -> i32 {
    unsafe { ctx.read_at::<u64>(ARG0 + 8 * n) }.unwrap_or(0) as i32
}

#[inline(always)]
fn emit(pid_tgid: u64, args: &SemArgs, semid: i32, ret: i64) {
    let Some(mut slot) = SEM_EVENTS.reserve::<SemEvent>(0) else {
        count_drop(Drop::SemRingFull);
        return;
    };
    let ev = SemEvent {
        ts_ns: unsafe { bpf_ktime_get_ns() },
        ret,
        kind: args.kind,
        pid: pid_tgid as u32,
        tgid: (pid_tgid >> 32) as u32,
        semid,
        key: args.key,
        nsems: args.nsems,
        flags: args.flags,
        cmd: args.cmd,
        comm: bpf_get_current_comm().unwrap_or_default(),
    };
    slot.write(ev);
    slot.submit(0);
}

#[inline(always)]
fn save(args: SemArgs) {
    let pid_tgid = bpf_get_current_pid_tgid();
    if traced(pid_tgid).is_none() {
        return;
    }
    if SEM_ARGS.insert(pid_tgid as u32, args, 0).is_err() {
        count_drop(Drop::SemArgsFull);
    }
}

#[inline(always)]
fn finish(ctx: &TracePointContext) {
    let pid_tgid = bpf_get_current_pid_tgid();
    let tid = pid_tgid as u32;
    let Some(args) = (unsafe { SEM_ARGS.get(tid) }).copied() else {
        return;
    };
    let _ = SEM_ARGS.remove(tid);
    let ret = unsafe { ctx.read_at::<i64>(ARG0) }.unwrap_or(0);
    let semid = if args.kind == kind::GET {
        ret as i32
    } else {
        args.semid
    };
    emit(pid_tgid, &args, semid, ret);
}

#[tracepoint(category = "syscalls", name = "sys_enter_semget")]
pub fn sem_get_enter(ctx: TracePointContext) -> u32 {
    save(SemArgs {
        key: arg(&ctx, 0),
        nsems: arg(&ctx, 1),
        flags: arg(&ctx, 2),
        semid: -1,
        cmd: 0,
        kind: kind::GET,
    });
    0
}

#[tracepoint(category = "syscalls", name = "sys_exit_semget")]
pub fn sem_get_exit(ctx: TracePointContext) -> u32 {
    finish(&ctx);
    0
}

#[tracepoint(category = "syscalls", name = "sys_enter_semctl")]
pub fn sem_ctl_enter(ctx: TracePointContext) -> u32 {
    // Only removals matter; the other commands don't change a set's life.
    if arg(&ctx, 2) & 0xff == IPC_RMID {
        save(SemArgs {
            key: 0,
            nsems: 0,
            flags: 0,
            semid: arg(&ctx, 0),
            cmd: IPC_RMID,
            kind: kind::RMID,
        });
    }
    0
}

#[tracepoint(category = "syscalls", name = "sys_exit_semctl")]
pub fn sem_ctl_exit(ctx: TracePointContext) -> u32 {
    finish(&ctx);
    0
}

#[inline(always)]
fn on_use(ctx: &TracePointContext) {
    let pid_tgid = bpf_get_current_pid_tgid();
    if traced(pid_tgid).is_none() {
        return;
    }
    let semid = arg(ctx, 0);
    let key = (pid_tgid & 0xffff_ffff_0000_0000) | u64::from(semid as u32);
    let now = unsafe { bpf_ktime_get_ns() };
    if let Some(last) = unsafe { SEM_USE_SEEN.get(key) }
        && now.saturating_sub(*last) < USE_EVERY_NS
    {
        return;
    }
    let _ = SEM_USE_SEEN.insert(key, now, 0);
    let args = SemArgs {
        semid,
        kind: kind::USE,
        ..Default::default()
    };
    emit(pid_tgid, &args, semid, 0);
}

#[tracepoint(category = "syscalls", name = "sys_enter_semop")]
pub fn sem_op_enter(ctx: TracePointContext) -> u32 {
    on_use(&ctx);
    0
}

#[tracepoint(category = "syscalls", name = "sys_enter_semtimedop")]
pub fn sem_timedop_enter(ctx: TracePointContext) -> u32 {
    on_use(&ctx);
    0
}
