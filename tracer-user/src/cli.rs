//! Command-line interface: every flag a user can pass, and nothing else.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::{problem::Problem, seccomp::workload::Workload};

#[derive(Parser, Debug)]
#[command(
    name = "ctrace",
    version,
    about = "eBPF tracer for container hosts: seccomp cost, overlayfs copy-up, SIGPIPE, semaphore leaks, zombies"
)]
pub struct Cli {
    /// Show probe-side diagnostics (aya-log) and debug logs; repeat for more.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Check what this node supports: kernel, BTF, tracefs, attach types, cgroups, runtimes.
    Doctor {
        /// Print one JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Attach the chosen problems' probes, print a live line each interval, then a report.
    Trace(TraceArgs),
    /// Run as a long-lived agent: Prometheus /metrics, /findings, NDJSON findings, bounded state.
    Serve(ServeArgs),
    /// Benchmarks that print ratios measured side by side in one run.
    Bench {
        #[command(subcommand)]
        what: BenchCmd,
    },
    /// Internal: a syscall loop used by the benchmarks and tests.
    #[command(name = "__loop", hide = true)]
    Loop(LoopArgs),
    /// Internal: one seccomp benchmark workload under the filters in a file.
    #[command(name = "__seccomp-child", hide = true)]
    SeccompChild {
        #[arg(long, value_enum)]
        workload: Workload,
        #[arg(long)]
        iterations: u64,
        #[arg(long)]
        filters: PathBuf,
    },
    /// Internal: exec a command under the filters in a file.
    #[command(name = "__seccomp-exec", hide = true)]
    SeccompExec {
        #[arg(long)]
        filters: PathBuf,
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
}

#[derive(Args, Debug, Clone)]
pub struct TraceArgs {
    /// Problems to trace (default: all).
    #[arg(value_enum)]
    pub problems: Vec<Problem>,
    /// The same as the positional problems, comma-separated (e.g. --problems sem,zombie).
    #[arg(
        long = "problems",
        value_enum,
        value_delimiter = ',',
        value_name = "LIST"
    )]
    pub problems_list: Vec<Problem>,
    /// Stop after this long (e.g. 10s, 2m); default: until Ctrl-C or SIGTERM.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
    /// Only trace this process (repeatable).
    #[arg(long = "pid", value_name = "PID")]
    pub pids: Vec<u32>,
    /// Only trace tasks with this command name (repeatable; at most 15 bytes, as the kernel keeps).
    #[arg(long = "comm", value_name = "NAME")]
    pub comms: Vec<String>,
    /// Only trace this container, by id, id prefix or name (repeatable).
    #[arg(long = "container", value_name = "ID_OR_NAME")]
    pub containers: Vec<String>,
    /// Print a live summary line this often.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub interval: Duration,
    /// Print one JSON document instead of the human report.
    #[arg(long)]
    pub json: bool,
    /// seccomp: count syscalls only (no timestamps); the cheapest mode.
    #[arg(long)]
    pub count_only: bool,
    /// seccomp: (process, syscall) pairs the kernel maps hold; 0: as many as 8 MiB of per-CPU
    /// histograms hold on this node (8,192 on 2 CPUs, 1,024 from 16 CPUs). Beyond: dropped.
    #[arg(long, default_value_t = 0)]
    pub max_syscall_keys: u32,
    /// Attach the syscall probes for only this percentage of each interval, to bound overhead.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u8).range(1..=100))]
    pub duty_cycle: u8,
    /// sem: a set is leaked once its creator is gone and nobody used it for this long.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub sem_leak_age: Duration,
    /// zombie: zombies unreaped for longer than this under a PID 1 raise a finding.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub zombie_age: Duration,
    /// Rows per table and histograms shown in the human report.
    #[arg(long, default_value_t = 5)]
    pub top: usize,
}

#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    #[command(flatten)]
    pub trace: TraceArgs,
    /// Address to serve /metrics, /findings, /report and /healthz on.
    #[arg(long, default_value = "127.0.0.1:9464")]
    pub listen: SocketAddr,
    /// Where each new (and each resolved) finding goes as one JSON line: "-" for stdout, or a
    /// file to append to.
    #[arg(long, default_value = "-", value_name = "FILE")]
    pub findings_out: String,
    /// Containers with their own metric series; beyond it the stalest are evicted.
    #[arg(long, default_value_t = 256)]
    pub max_containers: usize,
    /// Live processes with per-syscall figures; beyond it the oldest are evicted.
    #[arg(long, default_value_t = 8192)]
    pub max_processes: usize,
    /// Copy-up, EXDEV and SIGPIPE records kept for /findings, per kind.
    #[arg(long, default_value_t = 1000)]
    pub max_records: usize,
}

#[derive(Subcommand, Debug)]
pub enum BenchCmd {
    /// ns per syscall under no filter, Docker's default profile, your profiles and running
    /// processes' own filters; and your command's wall time under each.
    Seccomp(BenchSeccompArgs),
    /// Added ns per syscall: bare, empty probe pair (floor), ctrace modes, and bpftrace, with
    /// ratios to the floor (bootstrap 95% intervals) and each program's run time.
    Overhead {
        /// Syscalls per measurement.
        #[arg(long, default_value_t = 1_000_000)]
        iterations: u64,
        /// Interleaved rounds (at least 10), each measuring every case once in shuffled order;
        /// medians are reported.
        #[arg(long, default_value_t = 10)]
        runs: usize,
        /// Seconds of exit storm (fork and reap on every CPU) under `trace zombie`; 0 skips it.
        #[arg(long, default_value_t = 5.0)]
        storm_secs: f64,
        /// Print one JSON document instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args, Debug)]
pub struct BenchSeccompArgs {
    /// A profile in Docker's seccomp JSON format (what --security-opt seccomp=FILE takes); repeatable.
    #[arg(long = "profile", value_name = "FILE")]
    pub profiles: Vec<PathBuf>,
    /// Also measure the real filters of this running process (read with ptrace); repeatable.
    #[arg(long = "pid", value_name = "PID")]
    pub pids: Vec<u32>,
    /// Workloads to run (default: all).
    #[arg(long = "workload", value_enum)]
    pub workloads: Vec<Workload>,
    /// Operations per measurement (clone-wait runs a fiftieth of it).
    #[arg(long, default_value_t = 200_000)]
    pub iterations: u64,
    /// Measurements per setup; the median is reported.
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Compare CMD in two containers of IMAGE: Docker's default profile against seccomp=unconfined.
    #[arg(long, value_name = "IMAGE")]
    pub docker: Option<String>,
    /// Print one JSON document instead of tables.
    #[arg(long)]
    pub json: bool,
    /// A command to time under each setup (after `--`).
    #[arg(last = true)]
    pub command: Vec<String>,
}

#[derive(Args, Debug)]
pub struct LoopArgs {
    /// Which syscall to repeat.
    #[arg(value_enum)]
    pub syscall: LoopSyscall,
    pub iterations: u64,
    /// Wait for a line on stdin before starting (lets a tracer attach first).
    #[arg(long)]
    pub wait_stdin: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum LoopSyscall {
    Getppid,
    Getpgid,
}
