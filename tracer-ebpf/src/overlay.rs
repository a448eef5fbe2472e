//! overlay: calls that can copy a lower file up (open for writing, creat, truncate, chmod,
//! chown, utimes, xattrs, link, rename; their fd and at forms) and renames, from the syscall
//! dispatcher. Paths are read from user memory at entry, with what they are relative to and
//! the fd's file read from kernel structs (overlay_walk.rs); the event goes out at exit with
//! the latency and the result. Whether a copy-up happened, user space proves from the upper
//! layer.

use aya_ebpf::{
    EbpfContext,
    bindings::BPF_F_NO_PREALLOC,
    helpers::{
        bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_ktime_get_ns, bpf_probe_read_user,
        bpf_probe_read_user_str_bytes,
    },
    macros::{btf_tracepoint, kprobe, kretprobe, map, raw_tracepoint, tracepoint},
    maps::{HashMap, LruHashMap, PerCpuArray, ProgramArray, RingBuf},
    programs::{
        BtfTracePointContext, ProbeContext, RawTracePointContext, RetProbeContext,
        TracePointContext,
    },
};
use tracer_common::{
    Drop,
    overlay::{AT_FDCWD, MapKey, OVERLAYFS_MAGIC, OverlayEvent, SharedMap, how},
    syscalls::nr,
};

use crate::{
    filter::{count_drop, traced},
    overlay_walk::{
        self as overlay_walk, Path, Walk, file_facts, file_id, file_of, file_path, mount_dev,
        root_and_cwd, usable,
    },
    syscall::{Enter, Exit},
};

#[map]
static OVERLAY_EVENTS: RingBuf = RingBuf::with_byte_size(1024 * 1024, 0);
/// tid -> the call in flight (built in SCRATCH: it is larger than the BPF stack).
#[map]
static OVERLAY_ARGS: HashMap<u32, OverlayEvent> =
    HashMap::with_max_entries(4096, BPF_F_NO_PREALLOC);
/// The walk program of the dispatcher's own attach type (user space fills slot 0): the dentry
/// walk is verified once, in a program of its own, not inside every path of the dispatcher,
/// which made old verifiers (6.1, 5.10) exceed their limits.
#[map]
static OVERLAY_WALK: ProgramArray = ProgramArray::with_max_entries(1, 0);

/// The walk in progress on this CPU, between the runs of the walk program.
#[map]
static OVERLAY_WALK_AT: PerCpuArray<Walk> = PerCpuArray::with_max_entries(1, 0);

/// Transient `how` bits from the dispatcher to the walk program, cleared before the event is
/// kept: a new call; it has a second path; only an fd names the file.
const START: u32 = 1 << 29;
const TWO: u32 = 1 << 30;
const FD_ONLY: u32 = 1 << 31;
#[map]
static OVERLAY_SCRATCH: PerCpuArray<OverlayEvent> = PerCpuArray::with_max_entries(1, 0);

/// Overlay files mapped MAP_SHARED: a copy-up leaves such a mapping on the old (lower) file.
#[map]
static OVERLAY_SHARED: LruHashMap<MapKey, SharedMap> = LruHashMap::with_max_entries(4096, 0);

const MAP_SHARED: u64 = 0x01;
const MAP_ANONYMOUS: u64 = 0x20;

/// mmap(addr, len, prot, flags, fd, off) of an overlay file with MAP_SHARED: who, since when.
#[inline(always)]
fn shared_map(flags: u64, fd: i32) {
    if flags & MAP_SHARED == 0 || flags & MAP_ANONYMOUS != 0 || !usable() {
        return;
    }
    let Some((magic, dev, ino)) = file_of(fd).and_then(file_id) else {
        return;
    };
    if magic != OVERLAYFS_MAGIC {
        return;
    }
    let key = MapKey {
        ino,
        dev,
        tgid: (bpf_get_current_pid_tgid() >> 32) as u32,
    };
    let v = SharedMap {
        since_ns: unsafe { bpf_ktime_get_ns() },
        comm: bpf_get_current_comm().unwrap_or_default(),
    };
    // The first mapping's time: the oldest one is the one that went stale longest.
    let _ = OVERLAY_SHARED.insert(&key, &v, aya_ebpf::bindings::BPF_NOEXIST as u64);
}

const O_ACCMODE: u64 = 3;
const O_TRUNC: u64 = 0o1000;

/// Opens only matter when they can write (or truncate).
#[inline(always)]
fn writes(flags: u64) -> bool {
    flags & O_ACCMODE != 0 || flags & O_TRUNC != 0
}

/// Saves the call: `paths` are (dfd, user pointer) pairs, the second optional. Ends in the
/// walk program when it is there; without it, the call is kept without its kernel facts.
#[inline(always)]
fn save<C: EbpfContext>(
    ctx: &C,
    call: &Enter,
    p1: (i32, u64),
    p2: Option<(i32, u64)>,
    flags: u64,
    fd_only: bool,
) {
    let Some(ev) = OVERLAY_SCRATCH.get_ptr_mut(0) else {
        return;
    };
    let ev = unsafe { &mut *ev };
    ev.enter_ns = unsafe { bpf_ktime_get_ns() };
    ev.nr = call.nr as i32;
    ev.flags = flags;
    ev.copy_up_ns = 0;
    ev.copy_ups = 0;
    ev.dfd = p1.0;
    crate::origin::fill(&mut ev.origin);
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
    ev.how = 0;
    ev.magic = 0;
    ev.root_dev = 0;
    if usable() {
        ev.how = START | if p2.is_some() { TWO } else { 0 } | if fd_only { FD_ONLY } else { 0 };
        // SAFETY: slot 0 holds a program of this program's own type (user space checks it);
        // on success control never returns, on failure it falls through to `keep`.
        unsafe { OVERLAY_WALK.tail_call(ctx, 0) };
        ev.how = 0;
    }
    keep(ev, call.pid_tgid);
}

/// Keeps the call in flight until its exit.
#[inline(always)]
fn keep(ev: &OverlayEvent, pid_tgid: u64) {
    if OVERLAY_ARGS.insert(pid_tgid as u32, ev, 0).is_err() {
        count_drop(Drop::OverlayArgsFull);
    }
}

/// The walk program's body: the kernel facts of the call saved in SCRATCH, the dentry walk a
/// few steps per run (resumed by tail call), then the call is kept.
#[inline(always)]
fn walk_and_keep<C: EbpfContext>(ctx: &C) {
    let (Some(ev), Some(w)) = (
        OVERLAY_SCRATCH.get_ptr_mut(0),
        OVERLAY_WALK_AT.get_ptr_mut(0),
    ) else {
        return;
    };
    // SAFETY: per-CPU slots; the dispatcher that filled SCRATCH tail-called us on this CPU,
    // and the chain of runs stays on it.
    let (ev, w) = unsafe { (&mut *ev, &mut *w) };
    if ev.how & START != 0 {
        let (two, fd_only) = (ev.how & TWO != 0, ev.how & FD_ONLY != 0);
        ev.how = 0;
        match where_from(ev, two) {
            Some((root, at)) if overlay_walk::whole_asked() => {
                if !overlay_walk::whole(root, at, &mut ev.base) {
                    ev.how |= how::CUT;
                }
                return done(ev, fd_only);
            }
            Some((root, at)) => w.start(root, at, fd_only),
            None => return done(ev, fd_only),
        }
    }
    let whole = match w.steps(&mut ev.base) {
        Some(whole) => whole,
        None => {
            // SAFETY: slot 0 is this very program; on failure (the kernel's chain limit)
            // control falls through and the walk ends cut.
            unsafe { OVERLAY_WALK.tail_call(ctx, 0) };
            w.finish(&mut ev.base);
            false
        }
    };
    if !whole {
        ev.how |= how::CUT;
    }
    done(ev, w.fd_only != 0);
}

/// Keeps the call, unless it acts on an fd of another filesystem (nothing on overlay can be
/// copied up by it).
#[inline(always)]
fn done(ev: &OverlayEvent, fd_only: bool) {
    if fd_only && ev.how & how::FILE != 0 && ev.magic != OVERLAYFS_MAGIC {
        return;
    }
    keep(ev, bpf_get_current_pid_tgid());
}

// The walk program, once per attach type of the dispatcher (a tail call stays in one type).

#[btf_tracepoint(function = "sys_enter")]
pub fn overlay_walk_btf(ctx: BtfTracePointContext) -> i32 {
    walk_and_keep(&ctx);
    0
}

#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn overlay_walk_raw(ctx: RawTracePointContext) -> i32 {
    walk_and_keep(&ctx);
    0
}

#[tracepoint(category = "raw_syscalls", name = "sys_enter")]
pub fn overlay_walk_tp(ctx: TracePointContext) -> u32 {
    walk_and_keep(&ctx);
    0
}

/// Fills in, from kernel structs, the file of an fd-based call (an empty path on a dfd), and
/// returns where the walk of what a relative path is relative to starts: the process may be
/// gone when user space reads the event.
///
/// One walk per call: the first relative path's base is walked; the second's only when the
/// first is absolute. Both relative on two different dfds (a rare renameat/linkat): user space
/// reads the second base from /proc at drain.
#[inline(always)]
fn where_from(ev: &mut OverlayEvent, two: bool) -> Option<(Path, Path)> {
    let (root, cwd) = root_and_cwd()?;
    ev.root_dev = mount_dev(root);
    if ev.path[0] == 0
        && let Some(file) = file_of(ev.dfd)
    {
        file_facts(file, ev);
    }
    let (dfd, flag) = if ev.path[0] != b'/' {
        (ev.dfd, how::BASE)
    } else if two && ev.path2[0] != b'/' {
        (ev.dfd2, how::BASE2)
    } else {
        return None;
    };
    let at = match dfd {
        AT_FDCWD => Some(cwd),
        fd => file_of(fd).and_then(file_path),
    }?;
    ev.how |= flag;
    Some((root, at))
}

/// A traced task enters a call that can copy up or rename. `save` has one call site: inlined
/// once per call class, it made the dispatcher's verification 8× longer. It must stay the
/// dispatcher's last handler: it ends in a tail call, which does not return.
#[inline(always)]
pub fn on_enter<C: EbpfContext>(ctx: &C, call: &Enter) {
    let a = call.regs.args();
    // (first path, second path, flags, fd-only): the call's paths as (dfd, user pointer).
    let (p1, p2, flags, fd_only) = match call.nr as u32 {
        nr::MMAP => {
            shared_map(a[3], a[4] as i32);
            return;
        }
        // open(path, flags): only when it can write.
        nr::OPEN if writes(a[1]) => ((AT_FDCWD, a[0]), None, a[1], false),
        // Path first.
        nr::CREAT
        | nr::TRUNCATE
        | nr::CHMOD
        | nr::CHOWN
        | nr::LCHOWN
        | nr::SETXATTR
        | nr::LSETXATTR
        | nr::REMOVEXATTR
        | nr::LREMOVEXATTR
        | nr::UTIME
        | nr::UTIMES => ((AT_FDCWD, a[0]), None, 0, false),
        // fd first: the file is read through the fd table.
        nr::FTRUNCATE | nr::FCHMOD | nr::FCHOWN | nr::FSETXATTR | nr::FREMOVEXATTR => {
            ((a[0] as i32, 0), None, 0, true)
        }
        // openat(dfd, path, flags), openat2(dfd, path, how): only when they can write.
        nr::OPENAT | nr::OPENAT2 => {
            let flags = match call.nr as u32 {
                nr::OPENAT => a[2],
                // struct open_how starts with the u64 flags.
                _ => unsafe { bpf_probe_read_user(a[2] as *const u64) }.unwrap_or(0),
            };
            if !writes(flags) {
                return;
            }
            ((a[0] as i32, a[1]), None, flags, false)
        }
        // (dfd, path, ...); a NULL path (futimens) or an empty one names the dfd's file.
        nr::FCHMODAT
        | nr::FCHMODAT2
        | nr::FCHOWNAT
        | nr::UTIMENSAT
        | nr::FUTIMESAT
        | nr::SETXATTRAT
        | nr::REMOVEXATTRAT => ((a[0] as i32, a[1]), None, 0, a[1] == 0),
        // link(old, new), rename(old, new).
        nr::LINK | nr::RENAME => ((AT_FDCWD, a[0]), Some((AT_FDCWD, a[1])), 0, false),
        // linkat, renameat, renameat2: (olddfd, old, newdfd, new, flags).
        nr::LINKAT | nr::RENAMEAT | nr::RENAMEAT2 => {
            ((a[0] as i32, a[1]), Some((a[2] as i32, a[3])), a[4], false)
        }
        _ => return,
    };
    save(ctx, call, p1, p2, flags, fd_only);
}

/// The call returns: the saved entry goes out with the result and the latency.
#[inline(always)]
pub fn on_exit(call: &Exit) {
    let tid = call.pid_tgid as u32;
    let Some(saved) = (unsafe { OVERLAY_ARGS.get(tid) }) else {
        return;
    };
    let Some(mut slot) = OVERLAY_EVENTS.reserve::<OverlayEvent>(0) else {
        count_drop(Drop::OverlayRingFull);
        let _ = OVERLAY_ARGS.remove(tid);
        return;
    };
    let out = slot.as_mut_ptr();
    unsafe {
        core::ptr::copy_nonoverlapping(saved as *const OverlayEvent, out, 1);
        (*out).exit_ns = bpf_ktime_get_ns();
        (*out).ret = call.ret;
    }
    slot.submit(0);
    let _ = OVERLAY_ARGS.remove(tid);
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
