//! sem during `ctrace trace`: drain the ring buffer, keep the inventory fresh, report.

use anyhow::Result;
use aya::Ebpf;
use tracer_common::sem::{EVENTS, SemEvent, kind};

use super::{
    analyzer::{Analyzer, Creator, SemReport},
    inventory,
};
use crate::{
    attrib::Attributor,
    events::{self, Clock, comm_str, unix_now},
    node,
    shared::{Finding, ProbeInfo},
    syscalls,
};

pub struct SemRun {
    ring: events::Ring,
    /// The dispatcher's tier and programs (semget, semctl, semop and semtimedop go there).
    probe: ProbeInfo,
    pub analyzer: Analyzer,
    own_ns: u64,
    clock: Clock,
}

impl SemRun {
    pub fn start(
        ebpf: &mut Ebpf,
        syscalls: Option<&syscalls::Shared>,
        leak_age_s: f64,
        attrib: &mut Attributor,
    ) -> Result<SemRun> {
        let ring = events::ring(ebpf, EVENTS, tracer_common::Drop::SemQueueFull)?;
        let mut run = SemRun {
            ring,
            probe: syscalls::probe_info("sem", syscalls),
            analyzer: Analyzer::new(leak_age_s, unix_now()),
            own_ns: inventory::own_ipc_ns().unwrap_or(0),
            clock: Clock::new(),
        };
        run.refresh(attrib);
        Ok(run)
    }

    pub fn probe_info(&self) -> ProbeInfo {
        self.probe.clone()
    }

    /// The IPC namespace of a process, or of its nearest living ancestor once it has exited
    /// (an `ipcmk` in a container is gone before its event is drained).
    fn ipc_ns(&self, pid: u32) -> u64 {
        std::fs::metadata(format!("/proc/{pid}/ns/ipc"))
            .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
            .unwrap_or(self.own_ns)
    }

    /// Drains the ring buffer into the analyzer.
    pub fn poll(&mut self, attrib: &mut Attributor, parent_of: &dyn Fn(u32) -> Option<u32>) {
        for ev in events::drain::<SemEvent>(&mut self.ring) {
            let viewer = events::living_ancestor(ev.origin.tgid, parent_of);
            self.handle(&ev, viewer, attrib);
        }
    }

    fn handle(&mut self, ev: &SemEvent, viewer: u32, attrib: &mut Attributor) {
        // The IPC namespace the kernel read at the call; /proc only without BTF.
        let ns = match ev.origin.ipcns {
            0 => self.ipc_ns(viewer),
            ns => u64::from(ns),
        };
        let at = self.clock.unix(ev.ts_ns);
        match ev.kind {
            kind::GET if ev.ret >= 0 => {
                let creator = Creator {
                    pid: ev.origin.tgid,
                    comm: comm_str(&ev.origin.comm),
                    container: attrib.container_of_origin(&ev.origin, viewer),
                };
                self.analyzer
                    .on_get(ns, ev.ret as i32, ev.key, ev.nsems, creator, at);
            }
            kind::GET => self.analyzer.on_get_failed(ns, -ev.ret),
            kind::RMID if ev.ret == 0 => self.analyzer.on_rmid(ns, ev.semid),
            kind::USE => self.analyzer.on_use(ns, ev.semid, ev.origin.tgid, at),
            _ => {}
        }
    }

    /// Re-reads every namespace: new limits, removals nobody traced, destroyed namespaces.
    pub fn refresh(&mut self, attrib: &mut Attributor) {
        let namespaces = inventory::namespaces();
        for (&ns, &pid) in &namespaces {
            if let Ok(inv) = inventory::read_ns(ns, pid) {
                self.analyzer.inventory(&inv);
                if ns != self.own_ns
                    && let Some(st) = self.analyzer.ns.get_mut(&ns)
                {
                    if st.member_pid.is_none_or(|p| !node::alive(p)) {
                        st.member_pid = Some(pid);
                    }
                    if st.container.is_none() {
                        st.container = attrib.container_of(pid);
                    }
                }
            }
        }
        self.analyzer
            .retain_namespaces(|ns| namespaces.contains_key(&ns));
    }

    pub fn live(&self) -> String {
        format!(
            "sem: {} sets, {} leaked, {} semget ({} failed)",
            self.analyzer.set_count(),
            self.analyzer.leaked_count(unix_now(), node::alive),
            self.analyzer.counts.semget,
            self.analyzer.counts.semget_failed
        )
    }

    /// Drains and re-reads the inventories, then reports; the run goes on.
    pub fn report(
        &mut self,
        attrib: &mut Attributor,
        parent_of: &dyn Fn(u32) -> Option<u32>,
    ) -> (SemReport, Vec<Finding>) {
        self.poll(attrib, parent_of);
        self.refresh(attrib);
        self.analyzer.report(unix_now(), node::alive)
    }
}
