//! The name, container and seccomp state of the processes seccomp counts, including those
//! already gone.

use aya::Ebpf;

use crate::{
    attrib::{Attributor, ProcMeta, SeccompStatus, parent_of},
    node, seccomp,
};

/// From /proc, or None when the process is gone before the last read: a process that exits
/// while it is read (a short `cat` after its execve) leaves unreadable files or no seccomp line,
/// and perhaps the host's cgroup; its kernel record says better.
fn live_meta(tgid: u32, attrib: &mut Attributor) -> Option<ProcMeta> {
    let comm = node::proc_comm(tgid)?;
    // One read for both lines: two reads could straddle the exit.
    let status = std::fs::read_to_string(format!("/proc/{tgid}/status")).ok()?;
    let mode = node::status_field(&status, "Seccomp");
    let filters = node::status_field(&status, "Seccomp_filters");
    let container = attrib.container_of(tgid);
    if !node::alive(tgid) {
        return None;
    }
    Some(ProcMeta {
        comm,
        container,
        seccomp: SeccompStatus::from_status(mode.as_deref(), filters.as_deref()),
    })
}

/// The seccomp state the kernel read, as /proc/PID/status would say it.
fn kernel_status(s: tracer_common::seccomp::Seen) -> Option<SeccompStatus> {
    if s.mode == tracer_common::seccomp::MODE_UNKNOWN {
        return None;
    }
    let mode = s.mode.to_string();
    let filters = s.filters.to_string();
    Some(SeccompStatus::from_status(Some(&mode), Some(&filters)))
}

/// What is known of a process: from /proc while it lives; once gone, its container and seccomp
/// state are its nearest known ancestor's (both are inherited across fork and exec). `known`
/// gives metadata already collected for a pid.
pub fn proc_meta(
    tgid: u32,
    attrib: &mut Attributor,
    ebpf: &Ebpf,
    known: impl Fn(u32) -> Option<ProcMeta>,
) -> ProcMeta {
    if let Some(m) = live_meta(tgid, attrib) {
        return m;
    }
    let seen = seccomp::kernel_seen(ebpf, tgid);
    let comm = seen
        .map(|s| crate::events::comm_str(&s.origin.comm))
        .unwrap_or_default();
    // The container from the cgroup id and namespaces the kernel took at the first syscall, the
    // seccomp state from its task at the first syscall or the last execve.
    let container = seen
        .filter(|s| s.origin.has_namespaces())
        .map(|s| attrib.container_of_origin(&s.origin, tgid));
    let status = seen.and_then(kernel_status);
    let with_origin = |mut m: ProcMeta| {
        if let Some(c) = &container {
            m.container = c.clone();
        }
        if let Some(s) = &status {
            m.seccomp = s.clone();
        }
        m
    };
    let mut pid = tgid;
    for _ in 0..32 {
        let Some(parent) = parent_of(ebpf, pid) else {
            break;
        };
        if let Some(m) = known(parent).filter(|m| m.seccomp.mode != "unknown") {
            return with_origin(ProcMeta { comm, ..m });
        }
        if let Some(m) = live_meta(parent, attrib) {
            return with_origin(ProcMeta { comm, ..m });
        }
        pid = parent;
    }
    with_origin(ProcMeta {
        comm,
        ..Default::default()
    })
}
