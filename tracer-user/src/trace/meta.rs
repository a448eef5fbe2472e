//! Process metadata for attribution, including processes that are already gone.

use aya::{
    Ebpf,
    maps::{HashMap as BpfHashMap, MapData},
};
use tracer_common::names;

use crate::{
    attrib::{Attributor, ProcMeta, SeccompStatus},
    node, seccomp,
};

fn live_meta(tgid: u32, attrib: &mut Attributor) -> ProcMeta {
    ProcMeta {
        comm: node::proc_comm(tgid).unwrap_or_default(),
        container: attrib.container_of(tgid),
        seccomp: SeccompStatus::from_status(
            node::proc_status_field(tgid, "Seccomp").as_deref(),
            node::proc_status_field(tgid, "Seccomp_filters").as_deref(),
        ),
    }
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

pub fn parent_of(ebpf: &Ebpf, pid: u32) -> Option<u32> {
    let map = BpfHashMap::<&MapData, u32, u32>::try_from(ebpf.map(names::PARENTS)?).ok()?;
    map.get(&pid, 0).ok()
}

/// What is known of a process: from /proc while it lives; once gone, its container and seccomp
/// state are its nearest known ancestor's (both are inherited across fork and exec). `known`
/// gives metadata already collected for a pid; `comm` is the name the kernel recorded, if any.
pub fn proc_meta(
    tgid: u32,
    comm: Option<String>,
    attrib: &mut Attributor,
    ebpf: &Ebpf,
    known: impl Fn(u32) -> Option<ProcMeta>,
) -> ProcMeta {
    if node::alive(tgid) {
        let mut m = live_meta(tgid, attrib);
        if m.comm.is_empty() {
            m.comm = comm.unwrap_or_default();
        }
        return m;
    }
    let seen = seccomp::kernel_seen(ebpf, tgid);
    let comm = comm
        .or_else(|| seen.map(|s| crate::events::comm_str(&s.origin.comm)))
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
        if node::alive(parent) {
            let m = live_meta(parent, attrib);
            return with_origin(ProcMeta { comm, ..m });
        }
        pid = parent;
    }
    with_origin(ProcMeta {
        comm,
        ..Default::default()
    })
}
