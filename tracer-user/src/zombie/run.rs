//! zombie during `ctrace trace`: drain exits and frees, look each exit up in /proc, rescan.

use anyhow::Result;
use std::collections::BTreeSet;

use anyhow::Context as _;
use aya::{
    Ebpf,
    maps::{HashMap as BpfHashMap, MapData},
};
use tracer_common::zombie::{EVENTS, WATCH, ZombieEvent, kind};

use super::{
    PROGRAMS,
    analyzer::{Analyzer, NodeLimits, ParentInfo, ZombieReport},
    init_signal::{self, InitSignals},
    procfs,
};
use crate::{
    attach::{self, AttachType, Attachment, Target},
    attrib::Attributor,
    events::{self, Clock, comm_str, unix_now},
    node,
    shared::{Finding, ProbeInfo},
};

/// An exit is looked up in /proc this long after it happened: a parent that reaps does it sooner.
const LOOK_AFTER_S: f64 = 0.1;

pub struct ZombieRun {
    ring: events::Ring,
    /// The kernel's exited, not yet freed processes: complete whatever the ring dropped.
    watch: BpfHashMap<MapData, u32, u32>,
    /// Zombies found by the start-up scan: their exits came before the kernel counted.
    preexisting: BTreeSet<u32>,
    links: Vec<Attachment>,
    analyzer: Analyzer,
    /// Inits whose SIGTERM/SIGINT the kernel dropped.
    signals: InitSignals,
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
        let mut links = events::attach_tracepoints(ebpf, "zombie", &list)?;
        // Dropped init signals need the raw tracepoint's task argument (and BTF offsets).
        let signal = Target {
            category: "signal",
            name: "signal_generate",
        };
        match attach::attach(ebpf, "zombie_signal", AttachType::RawTp, signal) {
            Ok(l) => links.push(l),
            Err(e) => log::warn!("zombie: no pid1_signal_dropped here (raw tracepoint: {e:#})"),
        }
        let ring = events::ring(ebpf, EVENTS, tracer_common::Drop::ZombieQueueFull)?;
        let watch = BpfHashMap::try_from(
            ebpf.take_map(WATCH)
                .with_context(|| format!("map {WATCH} missing"))?,
        )?;
        let mut run = ZombieRun {
            ring,
            watch,
            preexisting: BTreeSet::new(),
            links,
            analyzer: Analyzer::new(threshold_s, unix_now()),
            signals: InitSignals::default(),
            pending: Vec::new(),
            clock: Clock::new(),
        };
        run.rescan(attrib);
        run.preexisting = run.analyzer.zombies.keys().copied().collect();
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
                kind::INIT_SIGNAL_DROPPED => {
                    let sigign = crate::node::proc_status_field(ev.pid, "SigIgn")
                        .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
                        .unwrap_or(0);
                    self.signals.dropped(init_signal::Drop {
                        pid: ev.pid,
                        comm: crate::node::proc_comm(ev.pid).unwrap_or_default(),
                        container: attrib.container_of(ev.pid),
                        sig: ev.sig,
                        sender_pid: ev.origin.tgid,
                        sender_comm: comm_str(&ev.origin.comm),
                        at,
                        explicitly_ignored: sigign & (1 << (ev.sig - 1)) != 0,
                    });
                }
                kind::INIT_KILLED => self.signals.killed(ev.pid, at),
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

    /// Zombies now: the kernel's exited, not yet freed processes that /proc still shows as
    /// zombies (reaped ones wait a grace period for their free), plus those from before the
    /// start that are still unreaped. Exact under churn, unlike the lookups that follow events.
    pub fn current(&self) -> usize {
        // A key deleted under the walk restarts it: the set drops the repeats.
        let watched: BTreeSet<u32> = self.watch.keys().filter_map(Result::ok).collect();
        let kernel = watched.iter().filter(|p| procfs::is_zombie(**p)).count();
        let older = self
            .preexisting
            .iter()
            .filter(|p| self.analyzer.is_zombie(**p))
            .count();
        kernel + older
    }

    /// Zombies held in user space (for the state bounds).
    pub fn held(&self) -> usize {
        self.analyzer.current()
    }

    pub fn forget_reaped(&mut self) -> u64 {
        let n = self.analyzer.forget_reaped();
        let analyzer = &self.analyzer;
        self.preexisting.retain(|p| analyzer.is_zombie(*p));
        n
    }

    pub fn live(&self) -> String {
        format!(
            "zombie: {} now, {} exits, {} reaped at once",
            self.current(),
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
        let live = self.current() as u64;
        let (mut r, mut f) = self.analyzer.report(unix_now(), node);
        r.live = live;
        r.init_signals = self.signals.inits.values().cloned().collect();
        f.extend(self.signals.findings());
        (r, f)
    }
}
