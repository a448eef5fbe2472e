//! `ctrace bench overhead`: the added cost per syscall of each probe setup, measured side by
//! side in one run on a getpgid loop in a child process (ctrace never traces itself).

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};
use aya::Ebpf;
use serde::Serialize;

use super::{agents::Agent, storm::exit_storm};
use crate::{
    attach::{self, AttachType, Globals, Target},
    cli::{LoopArgs, LoopSyscall},
    node,
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

fn measure(iterations: u64, runs: usize) -> Result<f64> {
    let exe = std::env::current_exe()?;
    let mut v = Vec::new();
    for _ in 0..runs.max(1) {
        let out = Command::new(&exe)
            .args(["__loop", "getpgid", &iterations.to_string()])
            .output()?;
        if !out.status.success() {
            bail!(
                "syscall loop failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        v.push(String::from_utf8_lossy(&out.stdout).trim().parse::<f64>()?);
    }
    v.sort_by(f64::total_cmp);
    Ok(v[v.len() / 2])
}

#[derive(Serialize)]
struct Case {
    case: String,
    ns_per_syscall: f64,
    added_ns: f64,
    vs_floor: Option<f64>,
    vs_bpftrace: Option<f64>,
}

const BPFTRACE_PROG: &str = "tracepoint:raw_syscalls:sys_enter { @s[tid] = nsecs; } \
    tracepoint:raw_syscalls:sys_exit /@s[tid]/ { @h[args->id] = hist(nsecs - @s[tid]); delete(@s[tid]); }";

fn start_bpftrace() -> Result<Option<Child>> {
    if Command::new("bpftrace").arg("--version").output().is_err() {
        return Ok(None);
    }
    let mut child = Command::new("bpftrace")
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
        bail!("bpftrace did not attach within 60 s");
    }
    std::thread::sleep(Duration::from_millis(500));
    Ok(Some(child))
}

fn with_ebpf<F>(
    filter_flags: u32,
    count_only: bool,
    attach_fn: F,
    iterations: u64,
    runs: usize,
) -> Result<(f64, String)>
where
    F: FnOnce(&mut Ebpf) -> Result<String>,
{
    let g = Globals {
        self_tgid: std::process::id(),
        filter_flags,
        syscall_want: syscalls::want_of([crate::problem::Problem::Seccomp]),
        seccomp_mode: syscalls::seccomp_mode(count_only),
        pid_max: node::read_u64("/proc/sys/kernel/pid_max").unwrap_or(4_194_304) as u32,
        ..Default::default()
    };
    let mut ebpf = attach::load(&g)?;
    let label = attach_fn(&mut ebpf)?;
    let ns = measure(iterations, runs)?;
    drop(ebpf);
    Ok((ns, label))
}

const ALL_PROBLEMS: &str = "ctrace trace, all problems";

pub fn overhead(iterations: u64, runs: usize, storm_secs: f64, json: bool) -> Result<()> {
    node::require_root()?;
    node::ensure_tracefs()?;
    node::bump_memlock()?;
    // Bare runs are taken before every case and pooled, so drift during the run evens out.
    let mut bare_samples = vec![measure(iterations, runs)?];
    let mut rows: Vec<(String, f64)> = Vec::new();
    let (floor, _) = with_ebpf(
        0,
        false,
        |e| {
            for (p, tp) in [("floor_enter", "sys_enter"), ("floor_exit", "sys_exit")] {
                attach::attach(
                    e,
                    p,
                    AttachType::RawTp,
                    Target {
                        category: "",
                        name: tp,
                    },
                )?;
            }
            Ok(String::new())
        },
        iterations,
        runs,
    )?;
    rows.push(("empty raw_tp enter/exit pair (floor)".into(), floor));
    bare_samples.push(measure(iterations, runs)?);
    for (count_only, flags, what) in [
        (false, 0, "latency"),
        (true, 0, "count-only"),
        (
            false,
            tracer_common::filter::BY_PID,
            "latency, loop filtered out",
        ),
    ] {
        let (ns, tier) = with_ebpf(
            flags,
            count_only,
            |e| {
                let want = syscalls::want_of([crate::problem::Problem::Seccomp]);
                let d = Dispatcher::attach(e, want, syscalls::seccomp_mode(count_only))?;
                Ok(d.tier.name().to_string())
            },
            iterations,
            runs,
        )?;
        rows.push((format!("ctrace seccomp {what} ({tier})"), ns));
        bare_samples.push(measure(iterations, runs)?);
    }
    // Whole agents, as users run them: every problem attached, in their own process.
    let serve_args = [
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--findings-out",
        "/dev/null",
    ];
    for (what, args) in [
        (ALL_PROBLEMS, &["trace", "--interval", "1s"][..]),
        ("ctrace serve, all problems, bounded", &serve_args[..]),
    ] {
        let agent = Agent::start(args)?;
        let ns = measure(iterations, runs);
        agent.stop()?;
        rows.push((what.into(), ns?));
        bare_samples.push(measure(iterations, runs)?);
    }
    bare_samples.sort_by(f64::total_cmp);
    let bare = bare_samples[bare_samples.len() / 2];
    rows.insert(0, ("bare (no probes)".into(), bare));
    let bpftrace = match start_bpftrace() {
        Ok(Some(mut child)) => {
            let ns = measure(iterations, runs);
            unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
            let _ = child.wait();
            let ns = ns?;
            rows.push(("bpftrace raw_syscalls latency hist".into(), ns));
            Some(ns - bare)
        }
        Ok(None) => None,
        Err(e) => {
            eprintln!("ctrace: bpftrace skipped: {e:#}");
            None
        }
    };
    let floor_added = floor - bare;
    let cases: Vec<Case> = rows
        .into_iter()
        .map(|(case, ns)| {
            let added = ns - bare;
            Case {
                case,
                ns_per_syscall: ns,
                added_ns: added,
                vs_floor: (floor_added > 0.0).then(|| added / floor_added),
                vs_bpftrace: bpftrace.filter(|b| *b > 0.0).map(|b| added / b),
            }
        })
        .collect();
    let storm = match storm_secs > 0.0 {
        true => Some(exit_storm(storm_secs)?),
        false => None,
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "iterations": iterations, "runs": runs, "cases": cases, "exit_storm": storm
            }))?
        );
        return Ok(());
    }
    println!(
        "getpgid loop, {iterations} calls, median of {runs} runs, kernel {}",
        node::kernel_release()
    );
    println!(
        "{:<46} {:>11} {:>9} {:>9} {:>11}",
        "case", "ns/syscall", "added", "/floor", "/bpftrace"
    );
    for c in &cases {
        let r = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.2}x"));
        println!(
            "{:<46} {:>11.1} {:>9.1} {:>9} {:>11}",
            c.case,
            c.ns_per_syscall,
            c.added_ns,
            r(c.vs_floor),
            r(c.vs_bpftrace)
        );
    }
    for c in cases
        .iter()
        .filter(|c| c.case.contains("latency (") || c.case == ALL_PROBLEMS)
    {
        println!("\ntargets for {}:", c.case);
        let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
        match c.vs_bpftrace {
            Some(v) => println!(
                "  added cost <= 0.5x bpftrace's: {v:.2}x -> {}",
                verdict(v <= 0.5)
            ),
            None => {
                println!("  added cost <= 0.5x bpftrace's: bpftrace not available, not measured")
            }
        }
        if let Some(v) = c.vs_floor {
            println!(
                "  added cost <= 1.5x the floor:  {v:.2}x -> {}",
                verdict(v <= 1.5)
            );
        }
    }
    if let Some(s) = storm {
        println!(
            "\nexit storm ({} forkers, {:.1} s): {:.0} exits/s generated, {:.0}/s handled, {} dropped",
            s.forkers, s.seconds, s.generated_per_s, s.handled_per_s, s.dropped
        );
        let reached = s.handled_per_s >= 100_000.0 && s.dropped == 0;
        println!(
            "  target >= 100000 exits/s without drops: {}",
            match (reached, s.generated_per_s < 100_000.0) {
                (true, _) => "met".to_string(),
                (false, true) if s.dropped == 0 => format!(
                    "not reachable here: this machine forks only {:.0}/s, all handled without drops",
                    s.generated_per_s
                ),
                _ => "MISSED".to_string(),
            }
        );
    }
    Ok(())
}
