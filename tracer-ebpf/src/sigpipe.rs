//! sigpipe: the write-like syscalls from the syscall dispatcher (to know what was being written
//! when SIGPIPE came), signal_generate/signal_deliver of SIGPIPE, EPIPE failures, and exits and
//! journald restarts.

use aya_ebpf::{
    bindings::{BPF_F_NO_PREALLOC, BPF_NOEXIST},
    helpers::{
        bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_get_current_task, bpf_ktime_get_ns,
        bpf_probe_read_kernel, bpf_probe_read_kernel_buf,
    },
    macros::{map, tracepoint},
    maps::{Array, HashMap, LruHashMap, PerCpuHashMap, RingBuf, ring_buf::RingBufEntry},
    programs::TracePointContext,
};
use tracer_common::{
    Drop,
    sigpipe::{
        EPIPE, Offsets, RECORDS_PER_KEY, SIGPIPE, SigpipeEvent, TotalKey, WriteArgs, fact, kind,
        result, total,
    },
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
/// (tgid, `total::*` or a generation result) -> count, per CPU: exact under any storm, while
/// the ring carries at most `RECORDS_PER_KEY` records per key and CPU.
#[map]
static SIGPIPE_TOTALS: PerCpuHashMap<TotalKey, u64> =
    PerCpuHashMap::with_max_entries(16384, BPF_F_NO_PREALLOC);
/// Member offsets from the kernel's BTF (one entry, filled by user space at start).
#[map]
static SIGPIPE_OFFSETS: Array<Offsets> = Array::with_max_entries(1, 0);

/// Counts one more `what` for `tgid`; true when this one's record is shipped.
#[inline(always)]
fn count(tgid: u32, what: u32) -> bool {
    let key = TotalKey { tgid, what };
    let n = match SIGPIPE_TOTALS.get_ptr_mut(&key) {
        Some(c) => unsafe {
            *c += 1;
            *c
        },
        None => {
            if SIGPIPE_TOTALS.insert(&key, &1, BPF_NOEXIST as u64).is_ok() {
                1
            } else {
                // Another CPU inserted it first: count through it.
                match SIGPIPE_TOTALS.get_ptr_mut(&key) {
                    Some(c) => unsafe {
                        *c += 1;
                        *c
                    },
                    None => {
                        count_drop(Drop::SigpipeTotalsFull);
                        1
                    }
                }
            }
        }
    };
    // Then at 128, 256, 512...: a long-lived daemon still gets a record now and then.
    n <= RECORDS_PER_KEY || n & (n - 1) == 0
}

/// A zeroed record in the ring, filled in place (the event is too big for the BPF stack
/// next to the probes' own variables); None (and a drop counted) when the ring is full.
#[inline(always)]
fn reserve(
    kind: u32,
    pid_tgid: u64,
    args: WriteArgs,
    comm: [u8; 16],
) -> Option<RingBufEntry<SigpipeEvent>> {
    let Some(mut slot) = SIGPIPE_EVENTS.reserve::<SigpipeEvent>(0) else {
        count_drop(Drop::SigpipeRingFull);
        return None;
    };
    let ev = slot.as_mut_ptr();
    unsafe {
        core::ptr::write_bytes(ev, 0, 1);
        crate::origin::fill(&mut (*ev).origin);
        (*ev).ts_ns = bpf_ktime_get_ns();
        (*ev).count = args.count;
        (*ev).kind = kind;
        (*ev).pid = pid_tgid as u32;
        (*ev).tgid = (pid_tgid >> 32) as u32;
        (*ev).nr = args.nr;
        (*ev).fd = args.fd;
        (*ev).comm = comm;
    }
    Some(slot)
}

#[inline(always)]
fn emit(kind: u32, pid_tgid: u64, handler: u64, args: WriteArgs, result: i32, comm: [u8; 16]) {
    if let Some(mut slot) = reserve(kind, pid_tgid, args, comm) {
        let ev = unsafe { &mut *slot.as_mut_ptr() };
        ev.handler = handler;
        ev.result = result;
        slot.submit(0);
    }
}

#[inline(always)]
fn read<T: Copy + Default>(base: u64, off: u32) -> T {
    unsafe { bpf_probe_read_kernel((base + u64::from(off)) as *const T) }.unwrap_or_default()
}

fn offsets() -> Option<Offsets> {
    SIGPIPE_OFFSETS.get(0).copied().filter(|o| o.ok != 0)
}

const S_IFMT: u32 = 0o170000;
const S_IFSOCK: u32 = 0o140000;
const AF_UNIX: u32 = 1;

/// What the current task's `fd` is, read through its fd table: inode, type, and for a unix
/// socket its peer's path (the peer may close before user space could ask /proc).
#[inline(always)]
fn fd_facts(o: &Offsets, fd: i32, ev: &mut SigpipeEvent) {
    if fd < 0 {
        return;
    }
    let task = unsafe { bpf_get_current_task() };
    let files: u64 = read(task, o.task_files);
    let fdt: u64 = read(files, o.files_fdt);
    let max: u32 = read(fdt, o.fdt_max_fds);
    if fdt == 0 || fd as u32 >= max {
        return;
    }
    let arr: u64 = read(fdt, o.fdt_fd);
    let file: u64 = read(arr, fd as u32 * 8);
    let inode: u64 = read(file, o.file_inode);
    if inode == 0 {
        return;
    }
    ev.ino = read(inode, o.inode_ino);
    ev.mode = u32::from(read::<u16>(inode, o.inode_mode));
    ev.facts |= fact::FD;
    if ev.mode & S_IFMT != S_IFSOCK {
        return;
    }
    let sock: u64 = read(file, o.file_private);
    let sk: u64 = read(sock, o.socket_sk);
    ev.family = u32::from(read::<u16>(sk, o.sk_family));
    if ev.family != AF_UNIX || sk == 0 {
        return;
    }
    let peer: u64 = read(sk, o.unix_peer);
    let addr: u64 = if peer == 0 {
        0
    } else {
        read(peer, o.unix_addr)
    };
    // sockaddr_un: sun_family (2 bytes), then the path.
    if addr != 0 && read::<i32>(addr, o.addr_len) > 2 {
        let path = (addr + u64::from(o.addr_name) + 2) as *const u8;
        let _ = unsafe { bpf_probe_read_kernel_buf(path, &mut ev.peer) };
    }
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
            if let Some(mut slot) = reserve(kind::EPIPE, pid_tgid, args, comm) {
                if let Some(o) = offsets() {
                    fd_facts(&o, args.fd, unsafe { &mut *slot.as_mut_ptr() });
                }
                slot.submit(0);
            }
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
    let res = unsafe { ctx.read_at::<i32>(44) }.unwrap_or(-1);
    let comm = unsafe { ctx.read_at::<[u8; 16]>(20) }.unwrap_or_default();
    let current = bpf_get_current_pid_tgid();
    let o = offsets();
    // SIGPIPE is raised by the writer on itself: the write in flight is the one that failed,
    // and the writer's own mask says whether it is blocked. Sent by another process (kill):
    // the target's thread id stands in for its process.
    let own = current as u32 == target;
    let (args, tgid) = if own {
        (current_write(target), (current >> 32) as u32)
    } else {
        (WriteArgs::default(), target)
    };
    let mut blocked = 0;
    if own && let Some(o) = &o {
        let mask: u64 = read(unsafe { bpf_get_current_task() }, o.task_blocked);
        blocked = ((mask >> (SIGPIPE - 1)) & 1) as u32;
    }
    let what = if res == result::DELIVERED && blocked != 0 {
        total::GEN_BLOCKED
    } else {
        res as u32
    };
    let _ = PIPED.insert(tgid, unsafe { bpf_ktime_get_ns() }, 0);
    if !count(tgid, what) {
        return 0;
    }
    let Some(mut slot) = reserve(
        kind::GENERATE,
        (u64::from(tgid) << 32) | u64::from(target),
        args,
        comm,
    ) else {
        return 0;
    };
    let ev = unsafe { &mut *slot.as_mut_ptr() };
    ev.result = res;
    ev.sender = (current >> 32) as u32;
    if own && let Some(o) = &o {
        ev.facts |= fact::TASK;
        ev.blocked = blocked;
        if args.nr != 0 {
            fd_facts(o, args.fd, ev);
        }
    }
    slot.submit(0);
    0
}

// signal/signal_deliver: sig 8, sa_handler 24 (in the receiver's context).
#[tracepoint(category = "signal", name = "signal_deliver")]
pub fn sigpipe_deliver(ctx: TracePointContext) -> u32 {
    if unsafe { ctx.read_at::<i32>(8) } != Ok(SIGPIPE) {
        return 0;
    }
    let handler = unsafe { ctx.read_at::<u64>(24) }.unwrap_or(0);
    let pid_tgid = bpf_get_current_pid_tgid();
    let what = match handler {
        0 => total::DELIVER_DEFAULT,
        1 => total::DELIVER_IGNORE,
        _ => total::DELIVER_HANDLER,
    };
    // A default delivery kills: its record always goes out.
    if !count((pid_tgid >> 32) as u32, what) && handler != 0 {
        return 0;
    }
    let comm = bpf_get_current_comm().unwrap_or_default();
    emit(
        kind::DELIVER,
        pid_tgid,
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
        // do_exit sets exit_code before this tracepoint: the signal that killed the process
        // is its low 7 bits (exit_signal is what the parent is sent, not this).
        let o = offsets();
        let code: i32 = o.map_or(0, |o| {
            read(unsafe { bpf_get_current_task() }, o.task_exit_code)
        });
        if o.is_some() && code & 0x7f == SIGPIPE {
            count(tgid, total::DIED);
        }
        let Some(mut slot) = reserve(kind::EXIT, pid_tgid, WriteArgs::default(), comm) else {
            return 0;
        };
        let ev = unsafe { &mut *slot.as_mut_ptr() };
        if o.is_some() {
            ev.exit_code = code;
            ev.facts |= fact::TASK;
        }
        slot.submit(0);
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
