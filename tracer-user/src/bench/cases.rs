//! `bench overhead`'s cases: what each keeps attached while the syscall loop runs, and one
//! run of the loop.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::Duration,
};

use anyhow::{Context as _, Result, bail};
use aya::Ebpf;

use super::{agents::Agent, children::die_with_parent};
use crate::{
    attach::{self, AttachType, Globals, Target},
    bpf_cost::{self, BpfCost},
    node,
    problem::Problem,
    syscalls::{self, Dispatcher},
};

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

pub(super) fn bpftrace_installed() -> bool {
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
