//! `ctrace trace`: resolve filters, load and attach the chosen problems, print a live line each
//! interval, and on Ctrl-C, SIGTERM or the end of --duration detach and print the report.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};
use aya::{
    Ebpf,
    maps::{Array, HashMap as BpfHashMap, MapData, PerCpuArray},
};
use tracer_common::{COMM_LEN, Drop, filter, names};

use crate::{
    attach::{self, Globals, Target},
    attrib::Attributor,
    cli::TraceArgs,
    node,
    problem::Problem,
    report::{ProbeInfo, Report, text},
    seccomp::{
        self, Mode,
        analyzer::{Analyzer, ProcMeta, SeccompStatus},
    },
};

/// How often new processes in the maps are attributed while they are still alive.
const ATTRIBUTE_EVERY: Duration = Duration::from_millis(250);
const TICK: Duration = Duration::from_millis(50);

/// The processes a run is limited to, resolved before anything is loaded.
struct Selection {
    pids: BTreeSet<u32>,
    comms: Vec<[u8; COMM_LEN]>,
    containers: Vec<String>,
}

impl Selection {
    fn flags(&self) -> u32 {
        let mut f = 0;
        if !self.pids.is_empty() || !self.containers.is_empty() {
            f |= filter::BY_PID;
        }
        if !self.comms.is_empty() {
            f |= filter::BY_COMM;
        }
        f
    }
}

fn resolve_selection(args: &TraceArgs, attrib: &mut Attributor) -> Result<Selection> {
    let mut pids = BTreeSet::new();
    for &pid in &args.pids {
        let tgid = node::proc_status_field(pid, "Tgid")
            .and_then(|t| t.parse().ok())
            .with_context(|| format!("unknown pid: {pid} (no such process)"))?;
        pids.insert(tgid);
    }
    let mut comms = Vec::new();
    for name in &args.comms {
        if name.is_empty() || name.len() >= COMM_LEN {
            bail!(
                "--comm {name:?}: a command name has 1 to {} bytes (the kernel truncates longer ones)",
                COMM_LEN - 1
            );
        }
        let mut c = [0u8; COMM_LEN];
        c[..name.len()].copy_from_slice(name.as_bytes());
        comms.push(c);
    }
    let mut containers = Vec::new();
    for arg in &args.containers {
        let id = attrib.resolve_container(arg)?;
        let members = attrib.pids_in_container(&id);
        if members.is_empty() {
            bail!("container {arg} has no running processes");
        }
        pids.extend(members);
        containers.push(id);
    }
    Ok(Selection {
        pids,
        comms,
        containers,
    })
}

fn fill_filters(ebpf: &mut Ebpf, sel: &Selection) -> Result<()> {
    add_filter_pids(ebpf, &sel.pids.iter().copied().collect::<Vec<_>>())?;
    let mut comms: BpfHashMap<&mut MapData, [u8; COMM_LEN], u8> = BpfHashMap::try_from(
        ebpf.map_mut(names::FILTER_COMMS)
            .context("comm map missing")?,
    )?;
    for c in &sel.comms {
        comms.insert(*c, 1, 0)?;
    }
    Ok(())
}

fn add_filter_pids(ebpf: &mut Ebpf, pids: &[u32]) -> Result<()> {
    let map = ebpf
        .map_mut(names::FILTER_PIDS)
        .context("filter map missing")?;
    let mut arr = Array::<&mut MapData, u8>::try_from(map)?;
    for &p in pids {
        arr.set(p, 1, 0)
            .with_context(|| format!("pid {p} is above kernel.pid_max"))?;
    }
    Ok(())
}

/// Sum of the per-CPU drop counters, by reason.
pub fn read_drops(ebpf: &Ebpf) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let Some(map) = ebpf.map(names::DROPS) else {
        return out;
    };
    let Ok(arr) = PerCpuArray::<&MapData, u64>::try_from(map) else {
        return out;
    };
    for why in Drop::ALL {
        if let Ok(v) = arr.get(&(why as u32), 0) {
            let n: u64 = v.iter().sum();
            if n > 0 {
                out.insert(why.name().to_string(), n);
            }
        }
    }
    out
}

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

fn parent_of(ebpf: &Ebpf, pid: u32) -> Option<u32> {
    let map = BpfHashMap::<&MapData, u32, u32>::try_from(ebpf.map(names::PARENTS)?).ok()?;
    map.get(&pid, 0).ok()
}

/// What is known of a process: from /proc while it lives; once gone, its container and seccomp
/// state are its nearest known ancestor's (both are inherited across fork and exec).
fn proc_meta(tgid: u32, attrib: &mut Attributor, ebpf: &Ebpf, analyzer: &Analyzer) -> ProcMeta {
    if std::path::Path::new(&format!("/proc/{tgid}")).exists() {
        return live_meta(tgid, attrib);
    }
    let comm = seccomp::kernel_comm(ebpf, tgid).unwrap_or_default();
    let mut pid = tgid;
    for _ in 0..32 {
        let Some(parent) = parent_of(ebpf, pid) else {
            break;
        };
        if let Some(m) = analyzer
            .meta(parent)
            .filter(|m| m.seccomp.mode != "unknown")
        {
            return ProcMeta { comm, ..m.clone() };
        }
        if std::path::Path::new(&format!("/proc/{parent}")).exists() {
            return ProcMeta {
                comm,
                ..live_meta(parent, attrib)
            };
        }
        pid = parent;
    }
    ProcMeta {
        comm,
        ..Default::default()
    }
}

fn stop_flag() -> Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))?;
    }
    Ok(stop)
}

pub fn run(args: TraceArgs, verbose: u8) -> Result<()> {
    node::require_root()?;
    let asked: Vec<Problem> = if args.problems.is_empty() {
        Problem::ALL.to_vec()
    } else {
        args.problems
            .iter()
            .copied()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    };
    let not_implemented: Vec<String> = asked
        .iter()
        .filter(|p| !p.implemented())
        .map(|p| p.name().to_string())
        .collect();
    if !asked.contains(&Problem::Seccomp) {
        bail!(
            "not implemented yet: {} (implemented: seccomp)",
            not_implemented.join(", ")
        );
    }
    if node::ensure_tracefs()? == node::Tracefs::MountedNow {
        eprintln!("ctrace: mounted tracefs at {}", node::TRACEFS);
    }
    node::bump_memlock()?;
    let mut attrib = Attributor::new();
    let sel = resolve_selection(&args, &mut attrib)?;
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
        // -v: warnings, -vv: debug, -vvv: trace (every fork).
        log_level: match verbose {
            0 => 0,
            1 => aya_log::Level::Warn as u8,
            2 => aya_log::Level::Debug as u8,
            _ => aya_log::Level::Trace as u8,
        },
    };
    let mut ebpf = attach::load(&globals)?;
    let mut logger = if verbose > 0 {
        aya_log::EbpfLogger::init(&mut ebpf).ok()
    } else {
        None
    };
    fill_filters(&mut ebpf, &sel)?;
    let mut probes = Vec::new();
    // Parents of short-lived processes, and children of --container processes that fork
    // after the start-up scan of the cgroup.
    let target = Target {
        category: "sched",
        name: "sched_process_fork",
    };
    let fork = attach::attach(&mut ebpf, "on_fork", attach::AttachType::Tracepoint, target)?;
    probes.push(ProbeInfo {
        problem: "attribution".into(),
        attach_type: fork.attach_type.name().into(),
        programs: vec![fork.program.into()],
    });
    let mode = if args.count_only {
        Mode::Count
    } else {
        Mode::Latency
    };
    let mut sc = seccomp::Probe::attach(&mut ebpf, mode)?;
    probes.insert(
        0,
        ProbeInfo {
            problem: "seccomp".into(),
            attach_type: sc.tier.name().into(),
            programs: sc.program_names(),
        },
    );
    eprintln!(
        "ctrace: attached seccomp ({} mode) via {}{}; Ctrl-C to stop",
        mode.name(),
        sc.tier.name(),
        if not_implemented.is_empty() {
            String::new()
        } else {
            format!("; not implemented yet: {}", not_implemented.join(", "))
        }
    );

    let stop = stop_flag()?;
    let started = Instant::now();
    let on_time = args.interval.mul_f64(f64::from(args.duty_cycle) / 100.0);
    let mut analyzer = Analyzer::default();
    let (mut observed, mut attached_since) = (Duration::ZERO, Some(Instant::now()));
    let (mut next_attrib, mut next_line) = (Instant::now(), Instant::now() + args.interval);
    let mut period_start = Instant::now();
    let mut last_total = 0u64;
    while !stop.load(Ordering::Relaxed) && args.duration.is_none_or(|d| started.elapsed() < d) {
        std::thread::sleep(TICK);
        let now = Instant::now();
        if let Some(l) = logger.as_mut() {
            l.flush();
        }
        // Duty cycle: detach for the rest of each period once the on-time is spent.
        if args.duty_cycle < 100 {
            if let Some(since) = attached_since
                && now - period_start >= on_time
            {
                sc.detach(&mut ebpf);
                observed += now - since;
                attached_since = None;
            }
            if now - period_start >= args.interval {
                period_start = now;
                sc.reattach(&mut ebpf)?;
                attached_since = Some(now);
            }
        }
        if now >= next_attrib {
            next_attrib = now + ATTRIBUTE_EVERY;
            analyzer.update(seccomp::snapshot(&ebpf, mode)?);
            for tgid in analyzer.unknown_tgids() {
                let meta = proc_meta(tgid, &mut attrib, &ebpf, &analyzer);
                analyzer.set_meta(tgid, meta);
            }
        }
        if now >= next_line {
            next_line += args.interval;
            for id in &sel.containers {
                let members = attrib.pids_in_container(id);
                add_filter_pids(&mut ebpf, &members)?;
            }
            let total = analyzer.total();
            let drops: u64 = read_drops(&ebpf).values().sum();
            eprintln!(
                "[{:>7.1}s] seccomp: {} syscalls (+{:.0}/s) processes={} containers={} drops={}",
                started.elapsed().as_secs_f64(),
                total,
                (total - last_total.min(total)) as f64 / args.interval.as_secs_f64(),
                analyzer.process_count(),
                analyzer.container_count(),
                drops
            );
            last_total = total;
        }
    }
    if let Some(since) = attached_since {
        observed += since.elapsed();
    }
    let duration = started.elapsed();
    analyzer.update(seccomp::snapshot(&ebpf, mode)?);
    for tgid in analyzer.unknown_tgids() {
        let meta = proc_meta(tgid, &mut attrib, &ebpf, &analyzer);
        analyzer.set_meta(tgid, meta);
    }
    let drop_reasons = read_drops(&ebpf);
    sc.detach(&mut ebpf);
    if let Some(l) = logger.as_mut() {
        l.flush();
    }
    drop(ebpf); // detaches and unloads everything that is left

    let seccomp_report = analyzer.report(mode, observed.as_secs_f64(), args.top);
    let report = Report {
        version: env!("CARGO_PKG_VERSION"),
        kernel: node::kernel_release(),
        probes,
        duration_s: duration.as_secs_f64(),
        events: BTreeMap::from([("seccomp".to_string(), seccomp_report.syscalls)]),
        drops: BTreeMap::from([("seccomp".to_string(), drop_reasons.values().sum())]),
        drop_reasons,
        findings: Vec::new(),
        not_implemented,
        duty_cycle_pct: args.duty_cycle,
        seccomp: Some(seccomp_report),
    };
    if args.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", text::render(&report, args.top));
    }
    Ok(())
}
