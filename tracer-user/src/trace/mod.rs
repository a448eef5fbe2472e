//! `ctrace trace`: resolve filters, load and attach the chosen problems, print a live line each
//! interval, and on Ctrl-C, SIGTERM or the end of --duration detach and print the report.

pub mod meta;
mod select;

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Result, anyhow};

use crate::{
    attach::{self, AttachType, Globals, Target},
    attrib::Attributor,
    cli::TraceArgs,
    node,
    overlay::run::OverlayRun,
    problem::Problem,
    report::{ProbeInfo, Report, text},
    seccomp::{self, run::SeccompRun},
    sem::run::SemRun,
    sigpipe::run::SigpipeRun,
    tier::{self, Features, Tier},
    zombie::run::ZombieRun,
};
use select::{Selection, read_drops};

/// How often new processes in the seccomp maps are attributed, while they live.
const ATTRIBUTE_EVERY: Duration = Duration::from_millis(250);
const TICK: Duration = Duration::from_millis(50);

fn stop_flag() -> Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))?;
    }
    Ok(stop)
}

fn log_level(verbose: u8) -> u8 {
    // -v: warnings, -vv: debug, -vvv: trace (every fork).
    match verbose {
        0 => 0,
        1 => aya_log::Level::Warn as u8,
        2 => aya_log::Level::Debug as u8,
        _ => aya_log::Level::Trace as u8,
    }
}

pub fn run(args: TraceArgs, verbose: u8) -> Result<()> {
    node::require_root()?;
    // Before the "attached" line: a signal right after it must stop the run, not kill it.
    let stop = stop_flag()?;
    let asked: BTreeSet<Problem> = if args.problems.is_empty() {
        Problem::ALL.into_iter().collect()
    } else {
        args.problems.iter().copied().collect()
    };
    if node::ensure_tracefs()? == node::Tracefs::MountedNow {
        eprintln!("ctrace: mounted tracefs at {}", node::TRACEFS);
    }
    node::bump_memlock()?;
    // Feature probes (in an object of their own), only when a problem with a kernel tier may use
    // one; before the pid scan, so that they don't widen the gap between it and the fork hook.
    let wish = tier::wished().map_err(|e| anyhow!(e))?;
    let features = if wish != Some(Tier::Tracepoint)
        && asked.iter().any(|p| !tier::kernel_tiers(*p).is_empty())
    {
        tier::probe_features()?
    } else {
        Features::default()
    };
    let mut attrib = Attributor::new();
    let sel = Selection::resolve(&args, &mut attrib)?;
    let globals = Globals {
        self_tgid: std::process::id(),
        filter_flags: sel.flags(),
        fork_child_pid_offset: node::tracepoint_field_offset(
            "sched",
            "sched_process_fork",
            "child_pid",
        )
        .unwrap_or(44),
        pid_max: node::read_u64("/proc/sys/kernel/pid_max").unwrap_or(4_194_304) as u32,
        log_level: log_level(verbose),
        free_pid_offset: node::tracepoint_field_offset("sched", "sched_process_free", "pid")
            .unwrap_or(12),
        exit_group_dead_offset: node::tracepoint_field_offset(
            "sched",
            "sched_process_exit",
            "group_dead",
        )
        .unwrap_or(0),
    };
    let mut ebpf = attach::load(&globals)?;
    let mut logger = if verbose > 0 {
        aya_log::EbpfLogger::init(&mut ebpf).ok()
    } else {
        None
    };
    sel.fill(&mut ebpf)?;
    // Parents of short-lived processes, and children of --container processes that fork
    // after the start-up scan of the cgroup.
    let target = Target {
        category: "sched",
        name: "sched_process_fork",
    };
    let fork = attach::attach(&mut ebpf, "on_fork", AttachType::Tracepoint, target)?;
    let exit_target = Target {
        category: "sched",
        name: "sched_process_exit",
    };
    let _exit = attach::attach(&mut ebpf, "on_exit", AttachType::Tracepoint, exit_target)?;
    let mut seccomp = match asked.contains(&Problem::Seccomp) {
        true => Some(SeccompRun::start(&mut ebpf, &args, features, wish)?),
        false => None,
    };
    let mut sem = match asked.contains(&Problem::Sem) {
        true => Some(SemRun::start(
            &mut ebpf,
            args.sem_leak_age.as_secs_f64(),
            &mut attrib,
        )?),
        false => None,
    };
    let mut zombie = match asked.contains(&Problem::Zombie) {
        true => Some(ZombieRun::start(
            &mut ebpf,
            args.zombie_age.as_secs_f64(),
            &mut attrib,
        )?),
        false => None,
    };
    let mut sigpipe = match asked.contains(&Problem::Sigpipe) {
        true => Some(SigpipeRun::start(&mut ebpf, args.comms.clone())?),
        false => None,
    };
    let mut overlay = match asked.contains(&Problem::Overlay) {
        true => Some(OverlayRun::start(&mut ebpf, features, wish)?),
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
        programs: vec![fork.program.into(), "on_exit".into()],
    });
    let attached: Vec<String> = probes
        .iter()
        .filter(|p| p.problem != "attribution")
        .map(|p| match p.tier.as_str() {
            "tracepoint" => format!("{} via {}", p.problem, p.attach_type),
            t => format!("{} via {}+{t}", p.problem, p.attach_type),
        })
        .collect();
    eprintln!("ctrace: attached {}; Ctrl-C to stop", attached.join(", "));

    let started = Instant::now();
    let (mut next_attrib, mut next_line) = (Instant::now(), Instant::now() + args.interval);
    while !stop.load(Ordering::Relaxed) && args.duration.is_none_or(|d| started.elapsed() < d) {
        std::thread::sleep(TICK);
        let now = Instant::now();
        if let Some(l) = logger.as_mut() {
            l.flush();
        }
        if let Some(s) = seccomp.as_mut() {
            s.duty_tick(&mut ebpf, now)?;
        }
        // Ring buffers every tick, so that bursts don't overflow them.
        if let Some(s) = sem.as_mut() {
            s.poll(&mut attrib, &|p| meta::parent_of(&ebpf, p));
        }
        if let Some(s) = sigpipe.as_mut() {
            s.poll(&mut attrib);
        }
        if let Some(s) = overlay.as_mut() {
            s.poll(&mut attrib, &|p| meta::parent_of(&ebpf, p));
        }
        // Last: its reaps drop attribution cache entries the others may still have needed.
        if let Some(s) = zombie.as_mut() {
            s.poll(&mut attrib);
        }
        if now >= next_attrib {
            next_attrib = now + ATTRIBUTE_EVERY;
            if let Some(s) = seccomp.as_mut() {
                s.attribute(&ebpf, &mut attrib)?;
            }
        }
        if now >= next_line {
            next_line += args.interval;
            sel.refresh(&mut ebpf, &mut attrib)?;
            if let Some(s) = sem.as_mut() {
                s.refresh(&mut attrib);
            }
            if let Some(s) = zombie.as_mut() {
                s.rescan(&mut attrib);
            }
            if let Some(s) = sigpipe.as_mut() {
                s.scan();
            }
            let drops = read_drops(&ebpf);
            let dropped = |problem: &str| -> u64 {
                drops
                    .iter()
                    .filter(|(d, _)| d.problem() == problem)
                    .map(|(_, n)| n)
                    .sum()
            };
            let mut parts = Vec::new();
            parts.extend(seccomp.as_mut().map(|s| s.live(dropped("seccomp"))));
            parts.extend(
                sem.as_ref()
                    .map(|s| format!("{} drops={}", s.live(), dropped("sem"))),
            );
            parts.extend(
                zombie
                    .as_ref()
                    .map(|s| format!("{} drops={}", s.live(), dropped("zombie"))),
            );
            parts.extend(
                sigpipe
                    .as_ref()
                    .map(|s| format!("{} drops={}", s.live(), dropped("sigpipe"))),
            );
            parts.extend(
                overlay
                    .as_ref()
                    .map(|s| format!("{} drops={}", s.live(), dropped("overlay"))),
            );
            eprintln!(
                "[{:>7.1}s] {}",
                started.elapsed().as_secs_f64(),
                parts.join(" | ")
            );
        }
    }
    let duration = started.elapsed();
    let mut report = Report {
        version: env!("CARGO_PKG_VERSION"),
        kernel: node::kernel_release(),
        probes,
        duration_s: duration.as_secs_f64(),
        events: BTreeMap::new(),
        drops: BTreeMap::new(),
        drop_reasons: BTreeMap::new(),
        findings: Vec::new(),
        duty_cycle_pct: args.duty_cycle,
        seccomp: None,
        sem: None,
        zombie: None,
        sigpipe: None,
        overlay: None,
    };
    if let Some(s) = seccomp.take() {
        let r = s.finish(&mut ebpf, &mut attrib, args.top)?;
        report.events.insert("seccomp".into(), r.syscalls);
        report.seccomp = Some(r);
    }
    if let Some(s) = sem.take() {
        let (r, findings) = s.finish(&mut attrib, &|p| meta::parent_of(&ebpf, p));
        let e = r.events;
        report
            .events
            .insert("sem".into(), e.semget + e.semget_failed + e.rmid + e.use_);
        report.findings.extend(findings);
        report.sem = Some(r);
    }
    if let Some(s) = zombie.take() {
        let (r, findings) = s.finish(&mut attrib);
        report.events.insert("zombie".into(), r.exits);
        report.findings.extend(findings);
        report.zombie = Some(r);
    }
    if let Some(s) = sigpipe.take() {
        let (r, findings) = s.finish(&ebpf, &mut attrib);
        report.events.insert("sigpipe".into(), r.sigpipes as u64);
        report.findings.extend(findings);
        report.sigpipe = Some(r);
    }
    if let Some(s) = overlay.take() {
        let (r, findings) = s.finish(&ebpf, &mut attrib, &|p| meta::parent_of(&ebpf, p));
        report.events.insert("overlay".into(), r.checked);
        report.findings.extend(findings);
        report.overlay = Some(r);
    }
    // Read after the final drains, so that drops up to the end of the run are counted.
    let drops = read_drops(&ebpf);
    report.drop_reasons = drops
        .iter()
        .map(|(d, n)| (d.name().to_string(), *n))
        .collect();
    for p in asked.iter().map(|p| p.name()).chain(["filter"]) {
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
    if let Some(l) = logger.as_mut() {
        l.flush();
    }
    drop(ebpf); // detaches and unloads everything that is left
    // Calibrated with every probe gone: syscall tracepoints slow down every task alike.
    if let Some(r) = report.seccomp.as_mut() {
        let mut cal = seccomp::slowdown::Calibrator::default();
        seccomp::filter_time::calibrate(&mut r.filter_time, &mut cal);
        report
            .findings
            .extend(seccomp::slowdown::findings(r, &mut cal));
    }
    if args.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", text::render(&report, args.top));
    }
    Ok(())
}
