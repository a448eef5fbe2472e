//! One tracing session, shared by `ctrace trace` and `ctrace serve`: load and attach the chosen
//! problems, drain and attribute their events, and build the report now or at the end.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Instant,
};

use anyhow::{Result, anyhow};
use aya::Ebpf;
use tracer_common::Drop;

use super::{
    meta,
    select::{Selection, read_drops},
};
use crate::{
    attach::{self, AttachType, Attachment, Globals, Target},
    attrib::Attributor,
    cli::TraceArgs,
    node,
    overlay::run::OverlayRun,
    problem::Problem,
    report::{ProbeInfo, Report},
    seccomp::{self, run::SeccompRun, slowdown::Calibrator},
    sem::run::SemRun,
    sigpipe::run::SigpipeRun,
    syscalls::{self, Dispatcher},
    tier::{self, Features, Tier},
    zombie::run::ZombieRun,
};

/// How often new processes in the seccomp maps are attributed, while they live.
const ATTRIBUTE_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

fn log_level(verbose: u8) -> u8 {
    // -v: warnings, -vv: debug, -vvv: trace (every fork).
    match verbose {
        0 => 0,
        1 => aya_log::Level::Warn as u8,
        2 => aya_log::Level::Debug as u8,
        _ => aya_log::Level::Trace as u8,
    }
}

pub struct Session {
    pub ebpf: Ebpf,
    pub attrib: Attributor,
    logger: Option<aya_log::EbpfLogger<&'static dyn log::Log>>,
    sel: Selection,
    pub seccomp: Option<SeccompRun>,
    pub sem: Option<SemRun>,
    pub zombie: Option<ZombieRun>,
    pub sigpipe: Option<SigpipeRun>,
    pub overlay: Option<OverlayRun>,
    pub probes: Vec<ProbeInfo>,
    asked: BTreeSet<Problem>,
    pub started: Instant,
    next_attrib: Instant,
    duty_cycle: u8,
    calibrator: Calibrator,
    /// The one sys_enter/sys_exit pair of every syscall-based problem.
    syscalls: Option<Dispatcher>,
    _links: Vec<Attachment>,
}

impl Session {
    /// Checks the node, resolves the filters and attaches every asked problem.
    pub fn open(args: &TraceArgs, verbose: u8) -> Result<Session> {
        node::require_root()?;
        let mut asked: BTreeSet<Problem> = args.problems.iter().copied().collect();
        asked.extend(args.problems_list.iter().copied());
        if asked.is_empty() {
            asked = Problem::ALL.into_iter().collect();
        }
        // Bad input is refused before ctrace changes anything on the node.
        let mut attrib = Attributor::new();
        let mut sel = Selection::resolve(args, &mut attrib)?;
        if node::ensure_tracefs()? == node::Tracefs::MountedNow {
            crate::say!("ctrace: mounted tracefs at {}", node::TRACEFS);
        }
        node::bump_memlock()?;
        // Feature probes (in an object of their own), only when a problem with a kernel tier may
        // use one; before the pid scan, so they don't widen the gap between it and the fork hook.
        let wish = tier::wished().map_err(|e| anyhow!(e))?;
        let features = if wish != Some(Tier::Tracepoint)
            && asked.iter().any(|p| !tier::kernel_tiers(*p).is_empty())
        {
            tier::probe_features()?
        } else {
            Features::default()
        };
        sel.scan_containers(&mut attrib)?;
        let offset = |cat, tp, field, default| {
            node::tracepoint_field_offset(cat, tp, field).unwrap_or(default)
        };
        let globals = Globals {
            self_tgid: std::process::id(),
            filter_flags: sel.flags(),
            fork_child_pid_offset: offset("sched", "sched_process_fork", "child_pid", 44),
            pid_max: node::read_u64("/proc/sys/kernel/pid_max").unwrap_or(4_194_304) as u32,
            log_level: log_level(verbose),
            free_pid_offset: offset("sched", "sched_process_free", "pid", 12),
            exit_group_dead_offset: offset("sched", "sched_process_exit", "group_dead", 0),
            syscall_want: syscalls::want_of(asked.iter().copied()),
            seccomp_mode: syscalls::seccomp_mode(args.count_only),
            zombie: asked.contains(&Problem::Zombie),
            max_keys: args.max_syscall_keys,
        };
        let mut ebpf = attach::load(&globals)?;
        let logger = if verbose > 0 {
            aya_log::EbpfLogger::init(&mut ebpf).ok()
        } else {
            None
        };
        sel.fill(&mut ebpf)?;
        // Parents of short-lived processes, and children of --container processes that fork
        // after the start-up scan of the cgroup.
        let sched = |name| Target {
            category: "sched",
            name,
        };
        let fork = attach::attach(
            &mut ebpf,
            "on_fork",
            AttachType::Tracepoint,
            sched("sched_process_fork"),
        )?;
        let exit = attach::attach(
            &mut ebpf,
            "on_exit",
            AttachType::Tracepoint,
            sched("sched_process_exit"),
        )?;
        let on = |p| asked.contains(&p);
        let syscalls = match globals.syscall_want {
            0 => None,
            w => Some(Dispatcher::attach(&mut ebpf, w, globals.seccomp_mode)?),
        };
        let seccomp = match (on(Problem::Seccomp), syscalls.as_ref()) {
            (true, Some(d)) => Some(SeccompRun::start(&mut ebpf, d, args, features, wish)?),
            _ => None,
        };
        let sem = match on(Problem::Sem) {
            true => Some(SemRun::start(
                &mut ebpf,
                syscalls.as_ref(),
                args.sem_leak_age.as_secs_f64(),
                &mut attrib,
            )?),
            false => None,
        };
        let zombie = match on(Problem::Zombie) {
            true => Some(ZombieRun::start(
                &mut ebpf,
                args.zombie_age.as_secs_f64(),
                &mut attrib,
            )?),
            false => None,
        };
        let sigpipe = match on(Problem::Sigpipe) {
            true => Some(SigpipeRun::start(
                &mut ebpf,
                syscalls.as_ref(),
                args.comms.clone(),
            )?),
            false => None,
        };
        let overlay = match on(Problem::Overlay) {
            true => Some(OverlayRun::start(
                &mut ebpf,
                syscalls.as_ref(),
                features,
                wish,
            )?),
            false => None,
        };
        let mut probes: Vec<ProbeInfo> = Vec::new();
        probes.extend(seccomp.as_ref().map(|s| s.probe_info()));
        probes.extend(sem.as_ref().map(|s| s.probe_info()));
        probes.extend(zombie.as_ref().map(|s| s.probe_info()));
        probes.extend(sigpipe.as_ref().map(|s| s.probe_info()));
        probes.extend(overlay.as_ref().map(|s| s.probe_info()));
        probes.push(ProbeInfo {
            problem: "attribution".into(),
            attach_type: fork.attach_type.name().into(),
            tier: "tracepoint".into(),
            programs: vec![fork.program.into(), exit.program.into()],
        });
        let now = Instant::now();
        Ok(Session {
            ebpf,
            attrib,
            logger,
            sel,
            seccomp,
            sem,
            zombie,
            sigpipe,
            overlay,
            probes,
            asked,
            started: now,
            next_attrib: now,
            duty_cycle: args.duty_cycle,
            calibrator: Calibrator::default(),
            syscalls,
            _links: vec![fork, exit],
        })
    }

    /// "seccomp via tp_btf, sem via tracepoint, ..." for the start-up line.
    pub fn attached(&self) -> String {
        let v: Vec<String> = self
            .probes
            .iter()
            .filter(|p| p.problem != "attribution")
            .map(|p| match p.tier.as_str() {
                "tracepoint" => format!("{} via {}", p.problem, p.attach_type),
                t => format!("{} via {}+{t}", p.problem, p.attach_type),
            })
            .collect();
        v.join(", ")
    }

    /// Every tick: the duty cycle, the ring buffers (so bursts don't overflow them), attribution.
    pub fn tick(&mut self, now: Instant) -> Result<()> {
        if let Some(l) = self.logger.as_mut() {
            l.flush();
        }
        let ebpf = &mut self.ebpf;
        let attrib = &mut self.attrib;
        if let Some(s) = self.seccomp.as_mut() {
            s.duty_tick(ebpf, self.syscalls.as_mut(), now)?;
        }
        if let Some(s) = self.sem.as_mut() {
            s.poll(attrib, &|p| meta::parent_of(ebpf, p));
        }
        if let Some(s) = self.sigpipe.as_mut() {
            s.poll(attrib);
        }
        if let Some(s) = self.overlay.as_mut() {
            s.poll(attrib, &|p| meta::parent_of(ebpf, p));
        }
        // Last: its reaps drop attribution cache entries the others may still have needed.
        if let Some(s) = self.zombie.as_mut() {
            s.poll(attrib);
        }
        if now >= self.next_attrib {
            self.next_attrib = now + ATTRIBUTE_EVERY;
            if let Some(s) = self.seccomp.as_mut() {
                s.attribute(ebpf, attrib)?;
            }
        }
        Ok(())
    }

    /// Every interval: the filter, the watched daemons' fds and (unless a report follows,
    /// which takes them anyway) the semaphore and zombie inventories.
    pub fn refresh(&mut self, inventories: bool) -> Result<()> {
        self.sel.refresh(&mut self.ebpf, &mut self.attrib)?;
        if let Some(s) = self.sem.as_mut().filter(|_| inventories) {
            s.refresh(&mut self.attrib);
        }
        if let Some(s) = self.zombie.as_mut().filter(|_| inventories) {
            s.rescan(&mut self.attrib);
        }
        if let Some(s) = self.sigpipe.as_mut() {
            s.scan();
        }
        Ok(())
    }

    /// The live line: one part per problem, with its drops.
    pub fn live(&mut self) -> String {
        let drops = self.drops();
        let dropped = |problem: &str| -> u64 {
            drops
                .iter()
                .filter(|(d, _)| d.problem() == problem)
                .map(|(_, n)| n)
                .sum()
        };
        let mut parts = Vec::new();
        parts.extend(self.seccomp.as_mut().map(|s| s.live(dropped("seccomp"))));
        let mut add = |live: Option<String>, problem: &str| {
            parts.extend(live.map(|l| format!("{l} drops={}", dropped(problem))));
        };
        add(self.sem.as_ref().map(|s| s.live()), "sem");
        add(self.zombie.as_ref().map(|s| s.live()), "zombie");
        add(self.sigpipe.as_ref().map(|s| s.live()), "sigpipe");
        add(self.overlay.as_ref().map(|s| s.live()), "overlay");
        parts.join(" | ")
    }

    pub fn drops(&self) -> BTreeMap<Drop, u64> {
        read_drops(&self.ebpf)
    }

    /// The report of everything so far, with the probes still attached (serve).
    pub fn snapshot(&mut self, top: usize) -> Result<Report> {
        let mut report = self.empty_report();
        if let Some(s) = self.seccomp.as_mut() {
            let r = s.report(&mut self.ebpf, &mut self.attrib, top)?;
            report.events.insert("seccomp".into(), r.syscalls);
            report.seccomp = Some(r);
        }
        self.fill(&mut report);
        // Calibrations are cached per filter, so only a new filter costs a measurement.
        if let Some(r) = &report.seccomp {
            report
                .findings
                .extend(seccomp::slowdown::findings(r, &mut self.calibrator));
        }
        Ok(report)
    }

    /// Drains everything, detaches every probe and returns the final report.
    pub fn finish(mut self, top: usize) -> Result<Report> {
        let mut report = self.empty_report();
        if let Some(s) = self.seccomp.take() {
            let r = s.finish(&mut self.ebpf, &mut self.attrib, top)?;
            report.events.insert("seccomp".into(), r.syscalls);
            report.seccomp = Some(r);
        }
        self.fill(&mut report);
        if let Some(l) = self.logger.as_mut() {
            l.flush();
        }
        drop(self.ebpf); // detaches and unloads everything that is left
        // Calibrated with every probe gone: syscall tracepoints slow down every task alike.
        if let Some(r) = report.seccomp.as_mut() {
            seccomp::filter_time::calibrate(&mut r.filter_time, &mut self.calibrator);
        }
        if let Some(r) = &report.seccomp {
            report
                .findings
                .extend(seccomp::slowdown::findings(r, &mut self.calibrator));
        }
        Ok(report)
    }

    fn empty_report(&self) -> Report {
        Report {
            version: env!("CARGO_PKG_VERSION"),
            kernel: node::kernel_release(),
            probes: self.probes.clone(),
            duration_s: self.started.elapsed().as_secs_f64(),
            events: BTreeMap::new(),
            drops: BTreeMap::new(),
            drop_reasons: BTreeMap::new(),
            findings: Vec::new(),
            duty_cycle_pct: self.duty_cycle,
            seccomp: None,
            sem: None,
            zombie: None,
            sigpipe: None,
            overlay: None,
            bpf: Some(crate::bpf_cost::read_self()),
        }
    }

    /// The event-driven problems' sections and findings, then the drops up to now.
    fn fill(&mut self, report: &mut Report) {
        let ebpf = &self.ebpf;
        let attrib = &mut self.attrib;
        if let Some(s) = self.sem.as_mut() {
            let (r, findings) = s.report(attrib, &|p| meta::parent_of(ebpf, p));
            let e = &r.events;
            let n = e.semget + e.semget_failed + e.rmid + e.use_;
            report.events.insert("sem".into(), n);
            report.findings.extend(findings);
            report.sem = Some(r);
        }
        if let Some(s) = self.zombie.as_mut() {
            let (r, findings) = s.report(attrib);
            report.events.insert("zombie".into(), r.exits);
            report.findings.extend(findings);
            report.zombie = Some(r);
        }
        if let Some(s) = self.sigpipe.as_mut() {
            let (r, findings) = s.report(ebpf, attrib);
            report.events.insert("sigpipe".into(), r.sigpipes as u64);
            report.findings.extend(findings);
            report.sigpipe = Some(r);
        }
        if let Some(s) = self.overlay.as_mut() {
            let (r, findings) = s.report(ebpf, attrib, &|p| meta::parent_of(ebpf, p));
            report.events.insert("overlay".into(), r.checked);
            report.findings.extend(findings);
            report.overlay = Some(r);
        }
        // Read after the drains above, so that drops up to now are counted.
        let drops = self.drops();
        report.drop_reasons = drops
            .iter()
            .map(|(d, n)| (d.name().to_string(), *n))
            .collect();
        for p in self.asked.iter().map(|p| p.name()).chain(["filter"]) {
            let n: u64 = drops
                .iter()
                .filter(|(d, _)| d.problem() == p)
                .map(|(_, n)| n)
                .sum();
            // "filter" (forks the pid filter could not take) only when it happened.
            if p != "filter" || n > 0 {
                report.drops.insert(p.to_string(), n);
            }
        }
    }
}
