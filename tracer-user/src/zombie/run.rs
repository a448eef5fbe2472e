//! zombie during `ctrace trace`: drain exits and frees, look each exit up in /proc, rescan.

use anyhow::Result;
use aya::Ebpf;
use tracer_common::zombie::{EVENTS, ZombieEvent, kind};

use super::{
    PROGRAMS,
    analyzer::{Analyzer, NodeLimits, ParentInfo, ZombieReport},
    procfs,
};
use crate::{
    attach::{AttachType, Attachment},
    attrib::Attributor,
    events::{self, Clock, comm_str, unix_now},
    node,
    shared::{Finding, ProbeInfo},
};

/// An exit is looked up in /proc this long after it happened: a parent that reaps does it sooner.
const LOOK_AFTER_S: f64 = 0.1;

pub struct ZombieRun {
    ring: events::Ring,
    links: Vec<Attachment>,
    analyzer: Analyzer,
    /// (pid, comm, exit time) of exits not yet looked up.
    pending: Vec<(u32, String, f64)>,
    clock: Clock,
}

fn parent_info(ppid: u32, attrib: &mut Attributor) -> ParentInfo {
    let st = procfs::read_status(ppid);
    let limit = procfs::pids_limit(ppid);
    ParentInfo {
        pid: ppid,
        comm: st.as_ref().map(|s| s.name.clone()).unwrap_or_default(),
        ns_pid1: st.as_ref().is_some_and(|s| s.is_ns_init()),
        pidns: procfs::pidns_of(ppid),
        container: attrib.container_of(ppid),
        pids_max: limit.and_then(|l| l.0),
        pids_current: limit.map(|l| l.1),
    }
}

impl ZombieRun {
    pub fn start(ebpf: &mut Ebpf, threshold_s: f64, attrib: &mut Attributor) -> Result<ZombieRun> {
        let list: Vec<_> = PROGRAMS.iter().map(|&(p, tp)| (p, "sched", tp)).collect();
        let links = events::attach_tracepoints(ebpf, "zombie", &list)?;
        let ring = events::ring(ebpf, EVENTS, tracer_common::Drop::ZombieQueueFull)?;
        let mut run = ZombieRun {
            ring,
            links,
            analyzer: Analyzer::new(threshold_s, unix_now()),
            pending: Vec::new(),
            clock: Clock::new(),
        };
        run.rescan(attrib);
        Ok(run)
    }

    pub fn probe_info(&self) -> ProbeInfo {
        ProbeInfo {
            problem: "zombie".into(),
            attach_type: AttachType::Tracepoint.name().into(),
            tier: "tracepoint".into(),
            programs: events::program_names(&self.links),
        }
    }

    /// Drains the ring buffer; exits old enough are looked up in /proc.
    pub fn poll(&mut self, attrib: &mut Attributor) {
        let mut events = Vec::new();
        while let Some(item) = self.ring.next() {
            if item.len() >= std::mem::size_of::<ZombieEvent>() {
                events
                    .push(unsafe { std::ptr::read_unaligned(item.as_ptr().cast::<ZombieEvent>()) });
            }
        }
        for ev in events {
            let at = self.clock.unix(ev.ts_ns);
            match ev.kind {
                kind::EXIT => {
                    self.analyzer.on_exit();
                    self.pending.push((ev.pid, comm_str(&ev.comm), at));
                }
                kind::FREE => {
                    // Reaped: the pid may come back as another process.
                    attrib.forget(ev.pid);
                    if let Some(i) = self.pending.iter().position(|p| p.0 == ev.pid) {
                        self.pending.swap_remove(i);
                        self.analyzer.reaped_at_once();
                    } else {
                        self.analyzer.reaped(ev.pid, at);
                    }
                }
                _ => {}
            }
        }
        let now = unix_now();
        let (due, later): (Vec<_>, Vec<_>) = self
            .pending
            .drain(..)
            .partition(|p| now - p.2 >= LOOK_AFTER_S);
        self.pending = later;
        for (pid, comm, at) in due {
            match procfs::read_status(pid) {
                Some(st) if st.state == 'Z' => {
                    let parent = parent_info(st.ppid, attrib);
                    self.analyzer.seen(pid, &comm, parent, Some(at), now);
                }
                Some(_) => {} // a reused pid, or threads still running: not a zombie yet
                None => self.analyzer.reaped_at_once(),
            }
        }
    }

    /// Every zombie in /proc now: those that existed before ctrace, re-parented ones, and any
    /// whose exit event was dropped; tracked zombies no longer in /proc were reaped.
    pub fn rescan(&mut self, attrib: &mut Attributor) {
        let now = unix_now();
        let zombies = procfs::zombies_now();
        for (pid, st) in &zombies {
            let parent = parent_info(st.ppid, attrib);
            self.analyzer.seen(*pid, &st.name, parent, None, now);
        }
        let tracked: Vec<u32> = self.analyzer.zombies.keys().copied().collect();
        for pid in tracked {
            if self.analyzer.is_zombie(pid) && !node::alive(pid) {
                self.analyzer.reaped(pid, now);
            }
        }
    }

    pub fn current(&self) -> usize {
        self.analyzer.current()
    }

    pub fn forget_reaped(&mut self) -> u64 {
        self.analyzer.forget_reaped()
    }

    pub fn live(&self) -> String {
        format!(
            "zombie: {} now, {} exits, {} reaped at once",
            self.analyzer.current(),
            self.analyzer.exits,
            self.analyzer.reaped_quickly
        )
    }

    pub fn report(&mut self, attrib: &mut Attributor) -> (ZombieReport, Vec<Finding>) {
        self.poll(attrib);
        self.rescan(attrib);
        let node = NodeLimits {
            pid_max: node::read_u64("/proc/sys/kernel/pid_max").unwrap_or(0),
            threads_max: node::read_u64("/proc/sys/kernel/threads-max").unwrap_or(0),
            tasks: procfs::node_tasks().unwrap_or(0),
        };
        self.analyzer.report(unix_now(), node)
    }
}
