//! sigpipe during `ctrace trace`: drain events, keep a cache of the watched daemons' fds (a
//! process killed by SIGPIPE is gone before it can be looked at), report.

use std::collections::{BTreeMap, HashMap};

use anyhow::Result;
use aya::{
    Ebpf,
    maps::{HashMap as BpfHashMap, MapData},
};
use tracer_common::sigpipe::{EPIPE_COUNTS, EVENTS, SigpipeEvent, fact, kind};

use super::{
    analyzer::{Analyzer, EpipeRow, Signal, SigpipeReport},
    fds::{self, FdInfo},
    is_journald_stream, is_watched_comm, kernel,
};
use crate::{
    attach::Attachment,
    attrib::Attributor,
    events::{self, Clock, comm_str, syscall_name},
    node,
    shared::{Finding, ProbeInfo},
    syscalls,
};

/// fds of a watched process cached per scan.
const MAX_FDS: i32 = 256;

pub struct SigpipeRun {
    ring: events::Ring,
    /// The signal and sched tracepoints; the writes come through the dispatcher.
    _links: Vec<Attachment>,
    probe: ProbeInfo,
    analyzer: Analyzer,
    fd_cache: HashMap<(u32, i32), FdInfo>,
    /// Every process's stdout and stderr as last described: a socket that is still the same
    /// inode is not described again (its net table read) at the next scan.
    std_fds: HashMap<(u32, i32), FdInfo>,
    watched: HashMap<u32, String>,
    extra: Vec<String>,
    clock: Clock,
    /// The container of each process in the kernel's totals, resolved once (serve's counters).
    pub totals_containers: HashMap<u32, Option<crate::attrib::Container>>,
    /// Why the kernel can't read tasks and fds itself (no BTF): /proc is the fallback.
    no_btf: Option<String>,
}

impl SigpipeRun {
    pub fn start(
        ebpf: &mut Ebpf,
        syscalls: Option<&syscalls::Shared>,
        extra: Vec<String>,
    ) -> Result<SigpipeRun> {
        let targets = [
            ("sigpipe_generate", "signal", "signal_generate"),
            ("sigpipe_deliver", "signal", "signal_deliver"),
            ("sigpipe_exit", "sched", "sched_process_exit"),
            ("sigpipe_exec", "sched", "sched_process_exec"),
        ];
        let links = events::attach_tracepoints(ebpf, "sigpipe", &targets)?;
        let mut probe = syscalls::probe_info("sigpipe", syscalls);
        probe.programs.extend(events::program_names(&links));
        let ring = events::ring(ebpf, EVENTS, tracer_common::Drop::SigpipeQueueFull)?;
        let no_btf = kernel::set_offsets(ebpf).err().map(|e| format!("{e:#}"));
        if let Some(e) = &no_btf {
            log::warn!("sigpipe: {e}: fd, mask and exit code from /proc and timing instead");
        }
        let mut run = SigpipeRun {
            ring,
            _links: links,
            probe,
            analyzer: Analyzer::default(),
            fd_cache: HashMap::new(),
            std_fds: HashMap::new(),
            watched: HashMap::new(),
            extra,
            clock: Clock::new(),
            totals_containers: HashMap::new(),
            no_btf,
        };
        run.scan();
        Ok(run)
    }

    pub fn probe_info(&self) -> ProbeInfo {
        self.probe.clone()
    }

    /// Which processes are watched, and what their fds are, while they are alive.
    pub fn scan(&mut self) {
        self.watched.clear();
        let known = std::mem::take(&mut self.fd_cache);
        let std_known = std::mem::take(&mut self.std_fds);
        for pid in node::pids() {
            let Some(comm) = node::proc_comm(pid) else {
                continue;
            };
            if is_watched_comm(&comm, &self.extra) {
                self.watched.insert(pid, comm);
                for fd in 0..MAX_FDS {
                    if let Some(info) = fds::describe_known(pid, fd, known.get(&(pid, fd))) {
                        self.fd_cache.insert((pid, fd), info);
                    }
                }
                continue;
            }
            for fd in [1, 2] {
                let Some(info) = fds::describe_known(pid, fd, std_known.get(&(pid, fd))) else {
                    continue;
                };
                if is_journald_stream(&info) {
                    self.watched.insert(pid, "journald client".into());
                    self.fd_cache.insert((pid, fd), info.clone());
                }
                self.std_fds.insert((pid, fd), info);
            }
        }
    }

    fn fd_from_proc(&self, tgid: u32, fd: i32) -> Option<FdInfo> {
        fds::describe(tgid, fd).or_else(|| self.fd_cache.get(&(tgid, fd)).cloned())
    }

    /// The fd as the kernel saw it at the event; /proc (or the cache) adds a path or address
    /// when it still describes the same inode.
    fn fd_info(&self, ev: &SigpipeEvent, tgid: u32, fd: i32) -> Option<FdInfo> {
        let seen = self.fd_from_proc(tgid, fd);
        let Some(k) = kernel::fd_of_event(ev) else {
            return seen;
        };
        match seen {
            Some(s) if s.kind == k.kind && (s.inode.is_none() || s.inode == k.inode) => {
                Some(FdInfo {
                    local: s.local,
                    peer: k.peer.or(s.peer),
                    ..k
                })
            }
            _ => Some(k),
        }
    }

    fn watched_because(&self, tgid: u32, comm: &str) -> Option<String> {
        self.watched
            .get(&tgid)
            .cloned()
            .or_else(|| is_watched_comm(comm, &self.extra).then(|| comm.to_string()))
    }

    pub fn poll(&mut self, attrib: &mut Attributor) {
        for ev in events::drain::<SigpipeEvent>(&mut self.ring) {
            let at = self.clock.unix(ev.ts_ns);
            let comm = comm_str(&ev.comm);
            let write = (ev.nr > 0 || ev.fd > 0 || ev.count > 0)
                .then(|| (syscall_name(ev.nr as u32), ev.fd));
            match ev.kind {
                kind::GENERATE => {
                    let s = Signal {
                        at,
                        tgid: ev.tgid,
                        tid: ev.pid,
                        // The origin is the sender's: the target's only when it raised it itself.
                        container: if ev.origin.tgid == ev.tgid {
                            attrib.container_of_origin(&ev.origin, ev.tgid)
                        } else {
                            attrib.container_of(ev.tgid)
                        },
                        syscall: write.as_ref().map(|w| w.0.clone()),
                        fd: write.as_ref().map(|w| w.1),
                        fd_info: write.as_ref().and_then(|w| self.fd_info(&ev, ev.tgid, w.1)),
                        size: ev.count,
                        raised: write.is_none() && ev.sender == ev.tgid,
                        result: ev.result,
                        blocked: ev.blocked != 0,
                        watched: self.watched_because(ev.tgid, &comm),
                        comm,
                        ..Default::default()
                    };
                    self.analyzer.on_generate(s);
                }
                kind::DELIVER => {
                    let watched = self.watched_because(ev.tgid, &comm);
                    let unpaired = || Signal {
                        at,
                        tgid: ev.tgid,
                        tid: ev.pid,
                        container: attrib.container_of_origin(&ev.origin, ev.tgid),
                        watched,
                        comm: comm.clone(),
                        ..Default::default()
                    };
                    self.analyzer.on_deliver(ev.pid, ev.handler, at, unpaired)
                }
                kind::EXIT => {
                    let code = (ev.facts & fact::TASK != 0).then_some(ev.exit_code);
                    let watched = self.watched_because(ev.tgid, &comm);
                    let unpaired = || Signal {
                        at,
                        tgid: ev.tgid,
                        tid: ev.pid,
                        container: attrib.container_of_origin(&ev.origin, ev.tgid),
                        watched,
                        comm: comm.clone(),
                        ..Default::default()
                    };
                    self.analyzer.on_exit(ev.tgid, at, code, unpaired)
                }
                kind::EPIPE => {
                    let watched = self.watched_because(ev.tgid, &comm);
                    let row = EpipeRow {
                        pid: ev.tgid,
                        comm,
                        count: 1,
                        syscall: write.as_ref().map(|w| w.0.clone()),
                        fd: write.as_ref().map(|w| w.1),
                        fd_info: write.as_ref().and_then(|w| self.fd_info(&ev, ev.tgid, w.1)),
                    };
                    self.analyzer.on_epipe(row, watched);
                }
                kind::JOURNALD => self.analyzer.on_journald(at),
                _ => {}
            }
        }
    }

    pub fn analyzer(&self) -> &Analyzer {
        &self.analyzer
    }

    /// Bounds a long-lived agent's state: old signals, and processes gone (in the kernel too).
    pub fn trim(&mut self, ebpf: &mut Ebpf, keep: usize, absorbed: usize) -> usize {
        if let Some(Ok(mut m)) = ebpf
            .map_mut(EPIPE_COUNTS)
            .map(BpfHashMap::<&mut MapData, u32, u64>::try_from)
        {
            let dead: Vec<u32> = m
                .keys()
                .filter_map(Result::ok)
                .filter(|p| !node::alive(*p))
                .collect();
            for p in dead {
                let _ = m.remove(&p);
            }
        }
        kernel::forget_totals(ebpf, node::alive);
        self.analyzer.trim(keep, absorbed, node::alive)
    }

    pub fn live(&self) -> String {
        let deaths = self.analyzer.signals.iter().filter(|s| s.died()).count();
        format!(
            "sigpipe: {} SIGPIPE kept, {deaths} fatal, {} watched",
            self.analyzer.signals.len(),
            self.watched.len()
        )
    }

    pub fn report(
        &mut self,
        ebpf: &Ebpf,
        attrib: &mut Attributor,
    ) -> (SigpipeReport, Vec<Finding>) {
        self.poll(attrib);
        let counts: BTreeMap<u32, u64> = ebpf
            .map(EPIPE_COUNTS)
            .and_then(|m| BpfHashMap::<&MapData, u32, u64>::try_from(m).ok())
            .map(|m| m.iter().filter_map(Result::ok).collect())
            .unwrap_or_default();
        self.analyzer.set_epipe_counts(counts);
        let totals = kernel::read_totals(ebpf);
        self.totals_containers.retain(|p, _| totals.contains_key(p));
        for tgid in totals.keys() {
            if !self.totals_containers.contains_key(tgid) {
                let known = self.analyzer.signals.iter().find(|s| s.tgid == *tgid);
                let c = match known {
                    Some(s) => s.container.clone(),
                    None => attrib.container_of(*tgid),
                };
                self.totals_containers.insert(*tgid, c);
            }
        }
        self.analyzer.set_totals(totals);
        let (mut r, findings) = self.analyzer.report();
        if let Some(e) = &self.no_btf {
            r.facts_from = format!("proc: {e}");
        }
        (r, findings)
    }
}
