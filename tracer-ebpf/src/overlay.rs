//! overlay: calls that can copy a lower file up (open for writing, creat, truncate, chmod,
//! chown, setxattr, link, rename) and renames. Paths are read from user memory at entry; the
//! event goes out at exit with the latency and the result. Whether a copy-up happened, user
//! space proves from the upper layer.

use aya_ebpf::{
    helpers::{
        bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_ktime_get_ns, bpf_probe_read_user,
        bpf_probe_read_user_str_bytes,
    },
    macros::{kprobe, kretprobe, map, tracepoint},
    maps::{HashMap, PerCpuArray, RingBuf},
    programs::{ProbeContext, RetProbeContext, TracePointContext},
};
use tracer_common::{
    Drop,
    overlay::{AT_FDCWD, OverlayEvent},
};

use crate::filter::{count_drop, traced};

#[map]
static OVERLAY_EVENTS: RingBuf = RingBuf::with_byte_size(1024 * 1024, 0);
/// tid -> the call in flight (built in SCRATCH: it is larger than the BPF stack).
#[map]
static OVERLAY_ARGS: HashMap<u32, OverlayEvent> = HashMap::with_max_entries(4096, 0);
#[map]
static OVERLAY_SCRATCH: PerCpuArray<OverlayEvent> = PerCpuArray::with_max_entries(1, 0);

const O_ACCMODE: u64 = 3;
const O_TRUNC: u64 = 0o1000;
const NR_OPEN: i32 = 2;
const NR_OPENAT: i32 = 257;
const NR_OPENAT2: i32 = 437;

// syscalls/sys_enter_*: __syscall_nr at 8, then 8-byte argument slots from 16.
#[inline(always)]
fn arg(ctx: &TracePointContext, n: usize) -> u64 {
    unsafe { ctx.read_at::<u64>(16 + 8 * n) }.unwrap_or(0)
}

/// Opens only matter when they can write (or truncate).
#[inline(always)]
fn writes(flags: u64) -> bool {
    flags & O_ACCMODE != 0 || flags & O_TRUNC != 0
}

/// Saves the call: `paths` are (dfd, user pointer) pairs, the second optional.
#[inline(always)]
fn save(ctx: &TracePointContext, p1: (i32, u64), p2: Option<(i32, u64)>, flags: u64) {
    let pid_tgid = bpf_get_current_pid_tgid();
    if traced(pid_tgid).is_none() {
        return;
    }
    let Some(ev) = OVERLAY_SCRATCH.get_ptr_mut(0) else {
        return;
    };
    let ev = unsafe { &mut *ev };
    ev.enter_ns = unsafe { bpf_ktime_get_ns() };
    ev.pid = pid_tgid as u32;
    ev.tgid = (pid_tgid >> 32) as u32;
    ev.nr = unsafe { ctx.read_at::<i32>(8) }.unwrap_or(-1);
    ev.flags = flags;
    ev.copy_up_ns = 0;
    ev.copy_ups = 0;
    ev.dfd = p1.0;
    ev.comm = bpf_get_current_comm().unwrap_or_default();
    if unsafe { bpf_probe_read_user_str_bytes(p1.1 as *const u8, &mut ev.path) }.is_err() {
        ev.path[0] = 0;
    }
    ev.path2[0] = 0;
    ev.dfd2 = AT_FDCWD;
    if let Some((dfd2, ptr2)) = p2 {
        ev.dfd2 = dfd2;
        if unsafe { bpf_probe_read_user_str_bytes(ptr2 as *const u8, &mut ev.path2) }.is_err() {
            ev.path2[0] = 0;
        }
    }
    if OVERLAY_ARGS.insert(pid_tgid as u32, &*ev, 0).is_err() {
        count_drop(Drop::OverlayArgsFull);
    }
}

/// open(path, flags), creat, truncate, chmod, chown, lchown, setxattr, lsetxattr: path first.
#[tracepoint]
pub fn overlay_enter_path(ctx: TracePointContext) -> u32 {
    let nr = unsafe { ctx.read_at::<i32>(8) }.unwrap_or(-1);
    let flags = if nr == NR_OPEN { arg(&ctx, 1) } else { 0 };
    if nr == NR_OPEN && !writes(flags) {
        return 0;
    }
    save(&ctx, (AT_FDCWD, arg(&ctx, 0)), None, flags);
    0
}

/// openat(dfd, path, flags), openat2(dfd, path, how), fchmodat, fchmodat2, fchownat.
#[tracepoint]
pub fn overlay_enter_dfd_path(ctx: TracePointContext) -> u32 {
    let nr = unsafe { ctx.read_at::<i32>(8) }.unwrap_or(-1);
    let flags = match nr {
        NR_OPENAT => arg(&ctx, 2),
        // struct open_how starts with the u64 flags.
        NR_OPENAT2 => unsafe { bpf_probe_read_user(arg(&ctx, 2) as *const u64) }.unwrap_or(0),
        _ => 0,
    };
    if (nr == NR_OPENAT || nr == NR_OPENAT2) && !writes(flags) {
        return 0;
    }
    save(&ctx, (arg(&ctx, 0) as i32, arg(&ctx, 1)), None, flags);
    0
}

/// link(old, new), rename(old, new).
#[tracepoint]
pub fn overlay_enter_two(ctx: TracePointContext) -> u32 {
    save(
        &ctx,
        (AT_FDCWD, arg(&ctx, 0)),
        Some((AT_FDCWD, arg(&ctx, 1))),
        0,
    );
    0
}

/// linkat, renameat, renameat2: (olddfd, old, newdfd, new, flags).
#[tracepoint]
pub fn overlay_enter_dfd_two(ctx: TracePointContext) -> u32 {
    let p1 = (arg(&ctx, 0) as i32, arg(&ctx, 1));
    let p2 = (arg(&ctx, 2) as i32, arg(&ctx, 3));
    save(&ctx, p1, Some(p2), arg(&ctx, 4));
    0
}

/// Every matching sys_exit_*: `ret` at 16.
#[tracepoint]
pub fn overlay_exit(ctx: TracePointContext) -> u32 {
    let tid = bpf_get_current_pid_tgid() as u32;
    let Some(saved) = (unsafe { OVERLAY_ARGS.get(tid) }) else {
        return 0;
    };
    let Some(mut slot) = OVERLAY_EVENTS.reserve::<OverlayEvent>(0) else {
        count_drop(Drop::OverlayRingFull);
        let _ = OVERLAY_ARGS.remove(tid);
        return 0;
    };
    let out = slot.as_mut_ptr();
    unsafe {
        core::ptr::copy_nonoverlapping(saved as *const OverlayEvent, out, 1);
        (*out).exit_ns = bpf_ktime_get_ns();
        (*out).ret = ctx.read_at::<i64>(16).unwrap_or(0);
    }
    slot.submit(0);
    let _ = OVERLAY_ARGS.remove(tid);
    0
}

// Kernel tier: the copy-up function's own duration, added to the traced call in flight on the
// same thread. A module function, so kprobe/kretprobe only (aya cannot load fentry against a
// module's BTF).

#[map]
static OVERLAY_CU_START: HashMap<u32, u64> = HashMap::with_max_entries(4096, 0);
#[map]
static OVERLAY_CU_MISSED: PerCpuArray<u64> = PerCpuArray::with_max_entries(2, 0);

#[kprobe]
pub fn overlay_copy_up_enter(_ctx: ProbeContext) -> u32 {
    let pid_tgid = bpf_get_current_pid_tgid();
    if traced(pid_tgid).is_some() {
        let now = unsafe { bpf_ktime_get_ns() };
        let _ = OVERLAY_CU_START.insert(&(pid_tgid as u32), &now, 0);
    }
    0
}

#[kretprobe]
pub fn overlay_copy_up_exit(_ctx: RetProbeContext) -> u32 {
    let tid = bpf_get_current_pid_tgid() as u32;
    let Some(&start) = (unsafe { OVERLAY_CU_START.get(&tid) }) else {
        return 0;
    };
    let _ = OVERLAY_CU_START.remove(&tid);
    let delta = unsafe { bpf_ktime_get_ns() }.saturating_sub(start);
    match OVERLAY_ARGS.get_ptr_mut(&tid) {
        Some(ev) => unsafe {
            (*ev).copy_up_ns += delta;
            (*ev).copy_ups += 1;
        },
        // Triggered by a call the tracepoint tier does not watch: what it would miss.
        None => {
            for (i, add) in [(0, 1), (1, delta)] {
                if let Some(v) = OVERLAY_CU_MISSED.get_ptr_mut(i) {
                    unsafe { *v += add };
                }
            }
        }
    }
    0
}
