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
    fill::{dropped, fill},
    select::{Selection, read_drops},
};
use crate::{
    attach::{self, AttachType, Attachment, Globals, Target},
    attrib::Attributor,
    cli::TraceArgs,
    node,
    problem::Problem,
    registry,
    report::Report,
    shared::{Cx, Entry, ProbeInfo, ProblemRun, Start},
    syscalls::{self, Dispatcher},
    tier::{self, Features, Tier},
};

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
    ebpf: Ebpf,
    pub attrib: Attributor,
    logger: Option<aya_log::EbpfLogger<&'static dyn log::Log>>,
    sel: Selection,
    /// The asked problems' runs, in registry order.
    runs: Vec<(&'static Entry, Box<dyn ProblemRun>)>,
    /// Indices into `runs`, in the order they tick.
    tick_order: Vec<usize>,
    probes: Vec<ProbeInfo>,
    pub started: Instant,
    duty_cycle: u8,
    /// The one sys_enter/sys_exit pair of every syscall-based problem (they hold it too).
    _syscalls: Option<syscalls::Shared>,
    _links: Vec<Attachment>,
    /// The origin header's offsets the probes were loaded with (zero: the /proc fallback).
    origin_offsets: tracer_common::origin::Offsets,
    /// ctrace's own BPF figures and when they were read: reading them walks every fd's fdinfo,
    /// a tenth of an idle agent's CPU when done each interval.
    bpf: Option<(Instant, crate::bpf_cost::BpfCost)>,
}

/// How long ctrace's own BPF figures are reused (map sizes are fixed at load; program run
/// times move only with kernel.bpf_stats_enabled).
const BPF_COST_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

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
        // seccomp's cost from cpu-clock samples: its residual is calibrated before anything is
        // attached (the calibration samples twins on an untraced node).
        let sampled = args.sampled && asked.contains(&Problem::Seccomp);
        if sampled {
            crate::seccomp::residual::prepare();
        }
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
            // --sampled: seccomp's cost comes from cpu-clock samples, with no syscall probe.
            syscall_want: syscalls::want_of(
                asked
                    .iter()
                    .copied()
                    .filter(|p| !(args.sampled && *p == Problem::Seccomp)),
            ),
            seccomp_mode: syscalls::seccomp_mode(args.count_only),
            zombie: asked.contains(&Problem::Zombie),
            seccomp_sampled: sampled,
            // Only the sampler reads it, and kallsyms is a large file to parse.
            seccomp_filter_text: if sampled {
                crate::seccomp::kallsyms::filter_text()
            } else {
                [0, 0]
            },
            max_keys: args.max_syscall_keys,
            origin_offsets: crate::btf::kernel_origin_offsets(),
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
        // Cgroups born from now on, for attribution by cgroup id (a container is known and
        // named while it lives, and after); a kernel without the tracepoint scans only.
        let mut links = vec![fork, exit];
        match attach::attach(
            &mut ebpf,
            "cgroup_mkdir",
            AttachType::Tracepoint,
            Target {
                category: "cgroup",
                name: "cgroup_mkdir",
            },
        ) {
            Ok(l) => {
                links.push(l);
                let ring = crate::events::ring(
                    &mut ebpf,
                    tracer_common::origin::CGROUP_EVENTS,
                    Drop::CgroupQueueFull,
                )?;
                attrib.set_cgroup_feed(crate::attrib::feed::CgroupFeed::new(ring));
            }
            Err(e) => {
                log::warn!("cgroup_mkdir: {e:#}: cgroups made during the run are found by rescans")
            }
        }
        attrib.scan_cgroups();
        let shared = match globals.syscall_want {
            0 => None,
            w => Some(std::rc::Rc::new(std::cell::RefCell::new(
                Dispatcher::attach(&mut ebpf, w, globals.seccomp_mode)?,
            ))),
        };
        let mut start = Start {
            ebpf: &mut ebpf,
            attrib: &mut attrib,
            args,
            features,
            wish,
            syscalls: shared.clone(),
        };
        let mut runs = Vec::new();
        for e in registry::ALL
            .into_iter()
            .filter(|e| asked.contains(&e.problem))
        {
            runs.push((e, (e.start)(&mut start)?));
        }
        let mut tick_order: Vec<usize> = (0..runs.len()).collect();
        tick_order.sort_by_key(|&i| runs[i].1.tick_order());
        let mut probes: Vec<ProbeInfo> = runs.iter().map(|(_, r)| r.probe_info()).collect();
        probes.push(ProbeInfo {
            problem: "attribution".into(),
            attach_type: links[0].attach_type.name().into(),
            tier: "tracepoint".into(),
            programs: links.iter().map(|l| l.program.into()).collect(),
        });
        let now = Instant::now();
        Ok(Session {
            ebpf,
            attrib,
            logger,
            sel,
            tick_order,
            runs,
            probes,
            started: now,
            duty_cycle: args.duty_cycle,
            _syscalls: shared,
            _links: links,
            origin_offsets: globals.origin_offsets,
            bpf: None,
        })
    }

    /// "seccomp via tp_btf, sem via tracepoint, ..." for the start-up line.
    /// What is attached, by attach type: `sem,sigpipe via tp_btf, zombie via tracepoint`.
    pub fn attached(&self) -> String {
        super::attached_line::grouped(&self.attached_probes(), true)
    }

    /// `trace`'s first line, within the live view's 100 columns.
    pub fn attached_line(&self) -> String {
        super::attached_line::attached(&self.attached_probes())
    }

    /// (problem, attach type, tier) of each attached problem, in attach order.
    fn attached_probes(&self) -> Vec<(&str, &str, &str)> {
        self.probes
            .iter()
            .filter(|p| p.problem != "attribution")
            .map(|p| (p.problem.as_str(), p.attach_type.as_str(), p.tier.as_str()))
            .collect()
    }

    /// Every tick: the duty cycle, the ring buffers (so bursts don't overflow them), attribution.
    pub fn tick(&mut self, now: Instant) -> Result<()> {
        if let Some(l) = self.logger.as_mut() {
            l.flush();
        }
        self.attrib.drain_cgroups();
        let mut cx = Cx {
            ebpf: &mut self.ebpf,
            attrib: &mut self.attrib,
        };
        for &i in &self.tick_order {
            if let Some((_, r)) = self.runs.get_mut(i) {
                r.tick(&mut cx, now)?;
            }
        }
        Ok(())
    }

    /// Every interval: the filter, then each problem's caches and (unless a report follows,
    /// which takes them anyway) inventories.
    pub fn refresh(&mut self, inventories: bool) -> Result<()> {
        self.sel.refresh(&mut self.ebpf, &mut self.attrib)?;
        let mut cx = Cx {
            ebpf: &mut self.ebpf,
            attrib: &mut self.attrib,
        };
        for (_, r) in &mut self.runs {
            r.refresh(&mut cx, inventories);
        }
        Ok(())
    }

    /// The live line: one part per problem, with its drops.
    pub fn live(&mut self) -> String {
        let parts: Vec<String> = self.live_parts().into_iter().map(|(_, l)| l).collect();
        parts.join(" | ")
    }

    /// Each problem's part of the live line, by the problem's name, with its drops.
    pub fn live_parts(&mut self) -> Vec<(&'static str, String)> {
        let drops = self.drops();
        self.runs
            .iter_mut()
            .map(|(e, r)| (e.name(), r.live(dropped(&drops, e.drops))))
            .collect()
    }

    /// What ctrace's own maps and programs cost the kernel so far, for the live view.
    pub fn kernel_cost(&mut self) -> String {
        self.bpf_cost(false).live()
    }

    /// ctrace's own BPF figures, read again after `BPF_COST_EVERY` or when `fresh`; a program's
    /// CPU share is over the time up to the read.
    fn bpf_cost(&mut self, fresh: bool) -> crate::bpf_cost::BpfCost {
        let stale = self
            .bpf
            .as_ref()
            .is_none_or(|(at, _)| fresh || at.elapsed() >= BPF_COST_EVERY);
        if stale {
            self.bpf = Some((Instant::now(), crate::bpf_cost::read_self()));
        }
        let (at, cost) = self.bpf.as_ref().expect("just read");
        cost.clone()
            .over(at.duration_since(self.started).as_secs_f64())
    }

    /// The kernel's drops and the drain stage's (records past a full queue), by reason.
    pub fn drops(&self) -> BTreeMap<Drop, u64> {
        let mut d = read_drops(&self.ebpf);
        d.extend(crate::drain::stage().drops());
        d
    }

    /// The findings of these problems' parts now (serve streams them as soon as their records
    /// arrive; the interval's full report follows with every part and the settled findings).
    pub fn findings_of(
        &mut self,
        problems: &[&str],
        top: usize,
    ) -> Result<Vec<crate::shared::Finding>> {
        let mut cx = Cx {
            ebpf: &mut self.ebpf,
            attrib: &mut self.attrib,
        };
        let mut out = Vec::new();
        for (e, r) in &mut self.runs {
            if problems.contains(&e.name()) {
                out.extend(r.report(&mut cx, top)?.findings);
            }
        }
        Ok(out)
    }

    /// The asked problems' runs, in registry order.
    pub fn runs(&self) -> impl Iterator<Item = (&'static Entry, &dyn ProblemRun)> {
        self.runs.iter().map(|(e, r)| (*e, r.as_ref()))
    }

    /// Calls `f` with each run and the loaded object its maps are in (serve's bounds).
    pub fn each_run(&mut self, mut f: impl FnMut(&mut dyn ProblemRun, &mut Ebpf)) {
        for (_, r) in &mut self.runs {
            f(r.as_mut(), &mut self.ebpf);
        }
    }

    /// The report of everything so far, with the probes still attached (serve).
    pub fn snapshot(&mut self, top: usize) -> Result<Report> {
        let mut report = self.empty_report(false);
        let mut cx = Cx {
            ebpf: &mut self.ebpf,
            attrib: &mut self.attrib,
        };
        let mut parts = Vec::new();
        for (_, r) in &mut self.runs {
            parts.push(r.report(&mut cx, top)?);
        }
        // Read after the drains above, so that drops up to now are counted.
        let drops = self.drops();
        fill(&mut report, &mut self.runs, parts, &drops, false);
        Ok(report)
    }

    /// Drains everything, detaches every probe and returns the final report.
    pub fn finish(mut self, top: usize) -> Result<Report> {
        let mut report = self.empty_report(true);
        let mut cx = Cx {
            ebpf: &mut self.ebpf,
            attrib: &mut self.attrib,
        };
        let mut parts = Vec::new();
        for (_, r) in &mut self.runs {
            parts.push(r.finish(&mut cx, top)?);
        }
        let drops = self.drops();
        if let Some(l) = self.logger.as_mut() {
            l.flush();
        }
        let Session { ebpf, mut runs, .. } = self;
        drop(ebpf); // detaches and unloads everything that is left
        fill(&mut report, &mut runs, parts, &drops, true);
        Ok(report)
    }

    /// `fresh`: the final report reads ctrace's own BPF figures anew.
    fn empty_report(&mut self, fresh: bool) -> Report {
        Report {
            version: env!("CARGO_PKG_VERSION"),
            kernel: node::kernel_release(),
            probes: self.probes.clone(),
            duration_s: self.started.elapsed().as_secs_f64(),
            events: BTreeMap::new(),
            drops: BTreeMap::new(),
            drop_reasons: BTreeMap::new(),
            findings: Vec::new(),
            windows: Vec::new(),
            duty_cycle_pct: self.duty_cycle,
            sections: Vec::new(),
            bpf: Some(self.bpf_cost(fresh)),
            evidence: Some(crate::evidence::Evidence::new(
                self.origin_offsets.namespaces(),
                self.attrib.cgroup2_mount(),
            )),
        }
    }
}
