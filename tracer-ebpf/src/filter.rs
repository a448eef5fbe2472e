//! Which tasks are traced. Checked first in every hot probe, before any other map work.

use aya_ebpf::{
    Global,
    helpers::{bpf_get_current_cgroup_id, bpf_get_current_comm, bpf_get_current_pid_tgid},
    macros::{map, tracepoint},
    maps::{Array, HashMap, LruHashMap, PerCpuArray},
    programs::TracePointContext,
};
use tracer_common::{COMM_LEN, Drop, filter};

/// ctrace's own tgid: its syscalls are never traced.
#[unsafe(no_mangle)]
static SELF_TGID: Global<u32> = Global::new(0);
/// `filter::BY_*` bits; 0 traces every task.
#[unsafe(no_mangle)]
static FILTER_FLAGS: Global<u32> = Global::new(0);
/// Offset of `child_pid` in the sched_process_fork record, read from tracefs at load time.
#[unsafe(no_mangle)]
static FORK_CHILD_PID_OFFSET: Global<u32> = Global::new(44);

/// Indexed by tgid (resized to kernel.pid_max at load): array lookups are inlined by the
/// verifier, so checking the filter costs no helper call on the hot path.
/// Offset of `group_dead` in the sched_process_exit record; 0 on kernels without the field.
#[unsafe(no_mangle)]
static EXIT_GROUP_DEAD_OFFSET: Global<u32> = Global::new(0);

#[map]
static FILTER_PIDS: Array<u8> = Array::with_max_entries(32768, 0);
#[map]
static FILTER_COMMS: HashMap<[u8; COMM_LEN], u8> = HashMap::with_max_entries(64, 0);
/// child pid -> parent tgid, so that a process that exits before user space reads /proc is
/// attributed through its nearest living (or already attributed) ancestor. 16,384 recent forks:
/// far more than a node forks between two 50 ms drains; older ones are evicted.
#[map]
static PARENTS: LruHashMap<u32, u32> = LruHashMap::with_max_entries(16384, 0);
/// cgroup2 ids of the selected containers' cgroups (`filter::BY_CGROUP`).
#[map]
static FILTER_CGROUPS: HashMap<u64, u8> = HashMap::with_max_entries(1024, 0);
#[map]
static DROPS: PerCpuArray<u64> = PerCpuArray::with_max_entries(Drop::COUNT, 0);

#[inline(always)]
pub fn count_drop(why: Drop) {
    if let Some(p) = DROPS.get_ptr_mut(why as u32) {
        unsafe { *p += 1 };
    }
}

#[inline(always)]
fn pid_selected(tgid: u32) -> bool {
    FILTER_PIDS.get(tgid).is_some_and(|v| *v != 0)
}

/// Returns the tgid when the current task is traced.
#[inline(always)]
pub fn traced(pid_tgid: u64) -> Option<u32> {
    let tgid = (pid_tgid >> 32) as u32;
    if tgid == SELF_TGID.load() {
        return None;
    }
    let flags = FILTER_FLAGS.load();
    if flags == 0 {
        return Some(tgid);
    }
    if flags & filter::BY_PID != 0 && pid_selected(tgid) {
        return Some(tgid);
    }
    if flags & filter::BY_CGROUP != 0
        && unsafe { FILTER_CGROUPS.get(&bpf_get_current_cgroup_id()) }.is_some()
    {
        return Some(tgid);
    }
    if flags & filter::BY_COMM != 0
        && let Ok(comm) = bpf_get_current_comm()
        && unsafe { FILTER_COMMS.get(comm) }.is_some()
    {
        return Some(tgid);
    }
    None
}

/// `traced` for a probe on sched_process_exit, which may run after `on_exit` has already
/// deselected the process: a process whose parent (at fork) is selected counts too.
#[inline(always)]
pub fn traced_at_exit(pid_tgid: u64) -> Option<u32> {
    if let Some(tgid) = traced(pid_tgid) {
        return Some(tgid);
    }
    let tgid = (pid_tgid >> 32) as u32;
    if FILTER_FLAGS.load() & filter::BY_PID != 0
        && let Some(parent) = unsafe { PARENTS.get(&tgid) }
        && pid_selected(*parent)
    {
        return Some(tgid);
    }
    None
}

/// sched_process_exit: a selected process that exits leaves the filter, so that its pid, once
/// reused, does not select an unrelated process.
#[tracepoint(category = "sched", name = "sched_process_exit")]
pub fn on_exit(ctx: TracePointContext) -> u32 {
    if FILTER_FLAGS.load() & filter::BY_PID == 0 {
        return 0;
    }
    let pid_tgid = bpf_get_current_pid_tgid();
    let tgid = (pid_tgid >> 32) as u32;
    // The last thread of the process: group_dead where the kernel says it, else the leader.
    let off = EXIT_GROUP_DEAD_OFFSET.load();
    let last = if off != 0 {
        unsafe { ctx.read_at::<u8>(off as usize) }.is_ok_and(|d| d != 0)
    } else {
        pid_tgid as u32 == tgid
    };
    if last && let Some(v) = FILTER_PIDS.get_ptr_mut(tgid) {
        unsafe { *v = 0 };
    }
    0
}

/// sched_process_fork: remember the parent, and trace a traced process's children too (for
/// --container, whose processes fork after the start-up scan of the cgroup).
#[tracepoint(category = "sched", name = "sched_process_fork")]
pub fn on_fork(ctx: TracePointContext) -> u32 {
    let parent = (bpf_get_current_pid_tgid() >> 32) as u32;
    let Ok(child) = (unsafe { ctx.read_at::<u32>(FORK_CHILD_PID_OFFSET.load() as usize) }) else {
        return 0;
    };
    let _ = PARENTS.insert(child, parent, 0);
    aya_log_ebpf::trace!(&ctx, "fork: {} -> {}", parent, child);
    if FILTER_FLAGS.load() & filter::BY_PID != 0 && pid_selected(parent) {
        match FILTER_PIDS.get_ptr_mut(child) {
            Some(v) => unsafe { *v = 1 },
            None => {
                count_drop(Drop::FilterMapFull);
                aya_log_ebpf::warn!(
                    &ctx,
                    "filter: child {} of traced {} is beyond pid_max",
                    child,
                    parent
                );
            }
        }
    }
    0
}
