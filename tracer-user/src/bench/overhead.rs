//! `ctrace bench overhead`: the added cost per syscall of each probe setup on a getpgid loop in
//! a child process (ctrace never traces itself). Every case is measured once per round, the
//! rounds interleaved in shuffled order; medians per case, and the ratio of each case's added
//! cost to the floor's with a bootstrap 95% interval. A separate pass with bpf stats on gives
//! each program's own run time. The loop runs on the last CPU, ctrace's user space on the first.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};
use aya::Ebpf;

use super::{
    agents::Agent,
    children::{die_with_parent, pin_self_to_first_cpu, stop_flag, stopped, unpin_self},
    other_tracers,
    overhead_table::{Row, print_programs, print_table, print_targets},
    prog_stats::stats_pass,
    stats::{median, ratio_ci, shuffle},
    storm::exit_storm,
};
use crate::{
    attach::{self, AttachType, Globals, Target},
    bpf_cost::{self, BpfCost},
    cli::{LoopArgs, LoopSyscall},
    map_sizes, node,
    problem::Problem,
    syscalls::{self, Dispatcher},
};

/// The child side: repeat one cheap syscall and print ns per call.
pub fn syscall_loop(args: &LoopArgs) -> Result<()> {
    if args.wait_stdin {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
    }
    pin_to_last_cpu();
    let t = Instant::now();
    for _ in 0..args.iterations {
        match args.syscall {
            LoopSyscall::Getppid => unsafe { libc::syscall(libc::SYS_getppid) },
            LoopSyscall::Getpgid => unsafe { libc::syscall(libc::SYS_getpgid, 0) },
        };
    }
    let ns = t.elapsed().as_nanos() as f64 / args.iterations.max(1) as f64;
    println!("{ns:.2}");
    Ok(())
}

/// One CPU for every measurement, so that runs compare like with like.
pub fn pin_to_last_cpu() {
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.max(1) as usize;
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(n - 1, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// One run of the loop: ns per syscall.
pub(super) fn measure(iterations: u64) -> Result<f64> {
    let exe = std::env::current_exe()?;
    let out = die_with_parent(&mut Command::new(&exe))
        .args(["__loop", "getpgid", &iterations.to_string()])
        .output()?;
    if !out.status.success() {
        bail!(
            "syscall loop failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().parse::<f64>()?)
}

const BPFTRACE_PROG: &str = "tracepoint:raw_syscalls:sys_enter { @s[tid] = nsecs; } \
    tracepoint:raw_syscalls:sys_exit /@s[tid]/ { @h[args->id] = hist(nsecs - @s[tid]); delete(@s[tid]); }";

fn bpftrace_installed() -> bool {
    Command::new("bpftrace").arg("--version").output().is_ok()
}

fn start_bpftrace() -> Result<Child> {
    let mut child = die_with_parent(&mut Command::new("bpftrace"))
        .args(["-e", BPFTRACE_PROG])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = child.stdout.take().context("bpftrace stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.starts_with("Attaching") {
                let _ = tx.send(());
            }
        }
    });
    if rx.recv_timeout(Duration::from_secs(60)).is_err() {
        let _ = child.kill();
        let _ = child.wait();
        bail!("bpftrace did not attach within 60 s");
    }
    std::thread::sleep(Duration::from_millis(500));
    Ok(child)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Case {
    Bare,
    Floor,
    FloorClassic,
    Latency,
    Count,
    FilteredOut,
    Trace,
    Serve,
    Bpftrace,
    Sampled,
}

impl Case {
    pub(super) fn label(self) -> &'static str {
        match self {
            Case::Bare => "bare (no probes)",
            Case::Floor => "empty raw_tp enter/exit pair (floor)",
            Case::FloorClassic => "floor + 1 classic syscalls tracepoint, never fires",
            Case::Latency => "ctrace seccomp latency",
            Case::Count => "ctrace seccomp count-only",
            Case::FilteredOut => "seccomp latency, loop filtered out",
            Case::Trace => "ctrace trace, all problems",
            Case::Serve => "ctrace serve, all problems, bounded",
            Case::Bpftrace => "bpftrace raw_syscalls latency hist",
            Case::Sampled => "seccomp sampled (cpu-clock, no syscall probe)",
        }
    }
}

/// What a case keeps attached while the loop runs.
pub(super) enum Setup {
    None,
    /// Held for its drop, which detaches and unloads.
    Object {
        _ebpf: Ebpf,
    },
    Agent(Agent),
    Bpftrace(Child),
}

impl Setup {
    /// The process whose BPF programs the case runs (for the stats pass).
    pub(super) fn cost(&self) -> Option<BpfCost> {
        match self {
            Setup::Object { .. } => Some(bpf_cost::read_self()),
            Setup::Agent(a) => Some(bpf_cost::read(&a.pid().to_string())),
            _ => None,
        }
    }

    pub(super) fn stop(self) -> Result<()> {
        match self {
            Setup::Agent(a) => a.stop().map(|_| ()),
            Setup::Bpftrace(mut c) => {
                unsafe { libc::kill(c.id() as i32, libc::SIGINT) };
                c.wait()?;
                Ok(())
            }
            // Dropping the object detaches and unloads it.
            Setup::Object { .. } | Setup::None => Ok(()),
        }
    }
}

fn load(filter_flags: u32, want: u32, count_only: bool) -> Result<Ebpf> {
    let g = Globals {
        self_tgid: std::process::id(),
        filter_flags,
        syscall_want: want,
        seccomp_mode: syscalls::seccomp_mode(count_only),
        pid_max: node::read_u64("/proc/sys/kernel/pid_max").unwrap_or(4_194_304) as u32,
        ..Default::default()
    };
    attach::load(&g)
}

fn floor(classic: bool) -> Result<Ebpf> {
    let mut e = load(0, 0, false)?;
    for (p, tp) in [("floor_enter", "sys_enter"), ("floor_exit", "sys_exit")] {
        let target = Target {
            category: "",
            name: tp,
        };
        attach::attach(&mut e, p, AttachType::RawTp, target)?;
    }
    if classic {
        // An empty program on a syscall nobody makes here: only the classic path's own cost.
        let target = Target {
            category: "syscalls",
            name: "sys_enter_acct",
        };
        attach::attach(&mut e, "probe_tp", AttachType::Tracepoint, target)?;
    }
    Ok(e)
}

fn seccomp_alone(filter_flags: u32, count_only: bool) -> Result<Ebpf> {
    let want = syscalls::want_of([Problem::Seccomp]);
    let mut e = load(filter_flags, want, count_only)?;
    Dispatcher::attach(&mut e, want, syscalls::seccomp_mode(count_only))?;
    Ok(e)
}

const SERVE_ARGS: [&str; 5] = [
    "serve",
    "--listen",
    "127.0.0.1:0",
    "--findings-out",
    "/dev/null",
];

pub(super) fn setup(case: Case) -> Result<Setup> {
    Ok(match case {
        Case::Bare => Setup::None,
        Case::Floor => Setup::Object {
            _ebpf: floor(false)?,
        },
        Case::FloorClassic => Setup::Object {
            _ebpf: floor(true)?,
        },
        Case::Latency => Setup::Object {
            _ebpf: seccomp_alone(0, false)?,
        },
        Case::Count => Setup::Object {
            _ebpf: seccomp_alone(0, true)?,
        },
        Case::FilteredOut => Setup::Object {
            _ebpf: seccomp_alone(tracer_common::filter::BY_PID, false)?,
        },
        Case::Trace => Setup::Agent(Agent::start(&["trace", "--interval", "1s"])?),
        Case::Serve => Setup::Agent(Agent::start(&SERVE_ARGS)?),
        Case::Bpftrace => Setup::Bpftrace(start_bpftrace()?),
        Case::Sampled => Setup::Agent(Agent::start(&[
            "trace",
            "seccomp",
            "--sampled",
            "--interval",
            "1s",
        ])?),
    })
}

pub fn overhead(
    iterations: u64,
    rounds: usize,
    storm_secs: f64,
    docker: Option<&str>,
    json: bool,
) -> Result<()> {
    node::require_root()?;
    node::ensure_tracefs()?;
    node::bump_memlock()?;
    pin_self_to_first_cpu();
    let stop = stop_flag();
    let rounds = rounds.max(10);
    other_tracers::warn();
    let mut cases = vec![
        Case::Bare,
        Case::Floor,
        Case::FloorClassic,
        Case::Latency,
        Case::Count,
        Case::FilteredOut,
        Case::Trace,
        Case::Serve,
        Case::Sampled,
    ];
    if bpftrace_installed() {
        cases.push(Case::Bpftrace);
    }
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    crate::progress::enable();
    let bar = crate::progress::bar(
        rounds as u64,
        "bench overhead: rounds",
        &format!(
            "bench overhead: {rounds} rounds of {} cases, shuffled; a terminal shows the progress",
            cases.len()
        ),
    );
    let mut map_bytes = 0;
    for round in 0..rounds {
        let mut order: Vec<usize> = (0..cases.len()).collect();
        shuffle(&mut order, round as u64 + 1);
        for i in order {
            if stopped(&stop) {
                bail!("interrupted: every child stopped, every probe detached");
            }
            let s = setup(cases[i])?;
            if cases[i] == Case::Trace {
                map_bytes = map_bytes.max(s.cost().map_or(0, |c| c.map_bytes));
            }
            let ns = measure(iterations);
            s.stop()?;
            samples[i].push(ns?);
        }
        bar.inc(1);
    }
    let series = |c: Case| cases.iter().position(|&x| x == c).map(|i| &samples[i][..]);
    let (Some(bare), Some(floor_s)) = (series(Case::Bare), series(Case::Floor)) else {
        bail!("no bare or floor series");
    };
    let bpftrace = series(Case::Bpftrace);
    let twice_bare: Vec<f64> = bare.iter().map(|b| 2.0 * b).collect();
    let rows: Vec<Row> = cases
        .iter()
        .zip(&samples)
        .map(|(&c, v)| {
            let (r, lo, hi) = ratio_ci(v, bare, floor_s);
            let vb = bpftrace.map(|b| ratio_ci(v, bare, b));
            let (sb, sb_lo, sb_hi) = ratio_ci(v, bare, &twice_bare);
            Row {
                case: c.label(),
                median_ns: median(v),
                added_ns: median(&v.iter().zip(bare).map(|(x, b)| x - b).collect::<Vec<_>>()),
                vs_floor: r,
                vs_floor_ci95: (lo, hi),
                vs_bpftrace: vb.map(|x| x.0),
                vs_bpftrace_ci95: vb.map(|x| (x.1, x.2)),
                vs_bare: sb,
                vs_bare_ci95: (sb_lo, sb_hi),
                samples_ns: v.clone(),
            }
        })
        .collect();
    let progs = stats_pass(&cases, iterations, &stop)?;
    unpin_self();
    let storm = match storm_secs > 0.0 && !stopped(&stop) {
        true => Some(exit_storm(storm_secs)?),
        false => None,
    };
    let accuracy = match docker {
        Some(image) if !stopped(&stop) => Some(super::sampled::accuracy(image, 10)?),
        _ => None,
    };
    let formula = map_sizes::formula_all_problems(64, 4_194_304);
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "iterations": iterations, "rounds": rounds, "cases": rows,
                "programs": progs, "map_bytes": map_bytes,
                "map_bytes_formula_64cpu_4m_pids": formula, "exit_storm": storm,
                "seccomp_sampled_accuracy": accuracy
            }))?
        );
        return Ok(());
    }
    print_table(iterations, rounds, &rows);
    print_programs(&progs);
    print_targets(&rows, map_bytes, formula);
    if let Some(a) = &accuracy {
        super::sampled::print(a);
    }
    if let Some(s) = storm {
        println!(
            "\nexit storm ({} forkers, {:.1} s): {:.0} exits/s generated, {:.0}/s handled, {} dropped",
            s.forkers, s.seconds, s.generated_per_s, s.handled_per_s, s.dropped
        );
    }
    Ok(())
}
