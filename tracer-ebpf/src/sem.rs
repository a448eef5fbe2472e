//! sem: semget, semctl(IPC_RMID) and semop/semtimedop, called by the syscall dispatcher on
//! these calls only. Events are rare, so each one goes to user space whole.

use aya_ebpf::{
    bindings::BPF_F_NO_PREALLOC,
    helpers::bpf_ktime_get_ns,
    macros::map,
    maps::{HashMap, LruHashMap, RingBuf},
};
use tracer_common::{
    Drop,
    sem::{IPC_RMID, SemArgs, SemEvent, USE_EVERY_NS, kind},
    syscalls::nr,
};

use crate::{
    filter::count_drop,
    syscall::{Enter, Exit},
};

#[map]
static SEM_EVENTS: RingBuf = RingBuf::with_byte_size(256 * 1024, 0);
/// tid -> arguments of the semget/semctl in flight.
#[map]
static SEM_ARGS: HashMap<u32, SemArgs> = HashMap::with_max_entries(4096, BPF_F_NO_PREALLOC);
/// (tgid << 32 | semid) -> last USE event sent.
#[map]
static SEM_USE_SEEN: LruHashMap<u64, u64> = LruHashMap::with_max_entries(16384, 0);

#[inline(always)]
fn emit(args: &SemArgs, semid: i32, ret: i64) {
    let Some(mut slot) = SEM_EVENTS.reserve::<SemEvent>(0) else {
        count_drop(Drop::SemRingFull);
        return;
    };
    let ev = SemEvent {
        origin: crate::origin::current(),
        ts_ns: unsafe { bpf_ktime_get_ns() },
        ret,
        kind: args.kind,
        semid,
        key: args.key,
        nsems: args.nsems,
        flags: args.flags,
        cmd: args.cmd,
    };
    slot.write(ev);
    slot.submit(0);
}

#[inline(always)]
fn save(pid_tgid: u64, args: SemArgs) {
    if SEM_ARGS.insert(pid_tgid as u32, args, 0).is_err() {
        count_drop(Drop::SemArgsFull);
    }
}

/// semop/semtimedop: one USE event per (process, set) and second.
#[inline(always)]
fn on_use(call: &Enter, semid: i32) {
    let key = (call.pid_tgid & 0xffff_ffff_0000_0000) | u64::from(semid as u32);
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
    emit(&args, semid, 0);
}

/// A traced task enters semget, semctl, semop or semtimedop.
#[inline(always)]
pub fn on_enter(call: &Enter) {
    let a = call.regs.args();
    let arg = |n: usize| a[n] as i32;
    match call.nr as u32 {
        nr::SEMGET => save(
            call.pid_tgid,
            SemArgs {
                key: arg(0),
                nsems: arg(1),
                flags: arg(2),
                semid: -1,
                cmd: 0,
                kind: kind::GET,
            },
        ),
        // Only removals matter; the other commands don't change a set's life.
        nr::SEMCTL if arg(2) & 0xff == IPC_RMID => save(
            call.pid_tgid,
            SemArgs {
                key: 0,
                nsems: 0,
                flags: 0,
                semid: arg(0),
                cmd: IPC_RMID,
                kind: kind::RMID,
            },
        ),
        nr::SEMOP | nr::SEMTIMEDOP => on_use(call, arg(0)),
        _ => {}
    }
}

/// semget or semctl returns: the event goes out with the result.
#[inline(always)]
pub fn on_exit(call: &Exit) {
    let n = call.nr as u32;
    if n != nr::SEMGET && n != nr::SEMCTL {
        return;
    }
    let tid = call.pid_tgid as u32;
    let Some(args) = (unsafe { SEM_ARGS.get(tid) }).copied() else {
        return;
    };
    let _ = SEM_ARGS.remove(tid);
    let semid = if args.kind == kind::GET {
        call.ret as i32
    } else {
        args.semid
    };
    emit(&args, semid, call.ret);
}
