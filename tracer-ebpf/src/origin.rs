//! The origin header of every event: who was running, in which cgroup and namespaces, read
//! from the current task at the event with offsets user space took from the kernel's BTF.

use aya_ebpf::{
    Global,
    helpers::{
        bpf_get_current_cgroup_id, bpf_get_current_comm, bpf_get_current_pid_tgid,
        bpf_get_current_task, bpf_probe_read_kernel,
    },
};
use tracer_common::origin::{Offsets, Origin};

/// All zero without BTF: the namespace fields then stay 0 and user space uses /proc.
#[unsafe(no_mangle)]
static ORIGIN_OFFSETS: Global<Offsets> = Global::new(Offsets::ZERO);

#[inline(always)]
fn read<T>(base: u64, off: u32) -> Option<T> {
    if base == 0 {
        return None;
    }
    unsafe { bpf_probe_read_kernel((base + off as u64) as *const T) }.ok()
}

/// The offsets user space took from BTF (all 0 without BTF).
#[inline(always)]
pub fn offsets() -> Offsets {
    ORIGIN_OFFSETS.load()
}

/// The current task's `task_struct`, as an address.
#[inline(always)]
pub fn task() -> u64 {
    unsafe { bpf_get_current_task() }
}

/// Fills `o` for the current task.
#[inline(always)]
pub fn fill(o: &mut Origin) {
    let pid_tgid = bpf_get_current_pid_tgid();
    o.tgid = (pid_tgid >> 32) as u32;
    o.tid = pid_tgid as u32;
    o.cgroup_id = unsafe { bpf_get_current_cgroup_id() };
    o.comm = bpf_get_current_comm().unwrap_or_default();
    o._pad = 0;
    let off = ORIGIN_OFFSETS.load();
    if off.task_nsproxy == 0 {
        o.pidns = 0;
        o.mntns = 0;
        o.ipcns = 0;
        return;
    }
    let task = task();
    let nsproxy = read::<u64>(task, off.task_nsproxy).unwrap_or(0);
    let mnt = read::<u64>(nsproxy, off.nsproxy_mnt_ns).unwrap_or(0);
    o.mntns = read::<u32>(mnt, off.mnt_ns_inum).unwrap_or(0);
    let ipc = read::<u64>(nsproxy, off.nsproxy_ipc_ns).unwrap_or(0);
    o.ipcns = read::<u32>(ipc, off.ipc_ns_inum).unwrap_or(0);
    // The active pid namespace: thread_pid->numbers[thread_pid->level].ns (nsproxy's is the
    // one for children, which differs after unshare(CLONE_NEWPID)).
    let pid = read::<u64>(task, off.task_thread_pid).unwrap_or(0);
    let level = read::<u32>(pid, off.pid_level).unwrap_or(0) & 0x1f;
    let upid = read::<u64>(pid, off.pid_numbers + level * off.upid_size + off.upid_ns).unwrap_or(0);
    o.pidns = read::<u32>(upid, off.pid_ns_inum).unwrap_or(0);
}

/// The current task's origin, by value (for events small enough to build on the stack).
#[inline(always)]
pub fn current() -> Origin {
    let mut o = Origin::ZERO;
    fill(&mut o);
    o
}
