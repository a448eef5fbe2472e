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
    let origin = seccomp::kernel_origin(ebpf, tgid);
    let comm = comm
        .or_else(|| origin.map(|o| crate::events::comm_str(&o.comm)))
        .unwrap_or_default();
    // The container from the cgroup id and namespaces the kernel took at the first syscall.
    let container = origin
        .filter(|o| o.has_namespaces())
        .map(|o| attrib.container_of_origin(&o, tgid));
    let with_origin = |m: ProcMeta| match &container {
        Some(c) => ProcMeta {
            container: c.clone(),
            ..m
        },
        None => m,
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
