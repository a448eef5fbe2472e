//! Command-line interface: every flag a user can pass, and nothing else.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand, ValueEnum};
use tracer_common::COMM_LEN;

use serde::{Deserialize, Serialize};

use crate::{out::Usage, problem::Problem};

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
    // serve shares trace's filters but not its output: its flags say what they do in serve.
    #[command(
        mut_arg("interval", |a| a.help("Rebuild the report, /metrics and /findings this often")),
        mut_arg("duration", |a| a.help("Stop after this long (e.g. 1h); default: until SIGTERM or Ctrl-C")),
        mut_arg("top", |a| a.help("Top syscalls per process kept in /report")),
        mut_arg("json", |a| a.hide(true)),
        mut_arg("seccomp_window", |a| a.hide(false)),
        mut_arg("html", |a| a.hide(true)),
        mut_arg("no_tui", |a| a.hide(true)),
    )]
    Serve(ServeArgs),
    /// Benchmarks that print ratios measured side by side in one run.
    Bench {
        #[command(subcommand)]
        what: BenchCmd,
    },
    /// Draw a saved JSON report (trace, serve's /report, bench seccomp, bench overhead) as one
    /// self-contained HTML page.
    Report {
        /// Where to write the page.
        #[arg(long, value_name = "OUT.html")]
        html: PathBuf,
        /// Processes, and syscalls per process, drawn from a trace report (in its own order).
        #[arg(long, default_value_t = 5, value_parser = at_least_one)]
        top: usize,
        /// The JSON report, or - for standard input.
        #[arg(value_name = "REPORT.json")]
        report: PathBuf,
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
    /// Internal: one twin of the sampled residual's calibration (getppid under an allow-all
    /// filter, or none, until stdin closes).
    #[command(name = "__seccomp-twin", hide = true)]
    SeccompTwin { filter: String },
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
    #[arg(long = "pid", value_name = "PID", value_parser = pid, allow_hyphen_values = true)]
    pub pids: Vec<u32>,
    /// Only trace tasks with this command name (repeatable, up to 64 names; at most 15 bytes
    /// each, as the kernel keeps).
    #[arg(long = "comm", value_name = "NAME", value_parser = comm)]
    pub comms: Vec<String>,
    /// Only trace this container, by id, id prefix or name (repeatable).
    #[arg(long = "container", value_name = "ID_OR_NAME")]
    pub containers: Vec<String>,
    /// Refresh the live view (or print the live lines) this often.
    #[arg(long, default_value = "1s", value_parser = interval, allow_hyphen_values = true)]
    pub interval: Duration,
    /// Plain live lines on stderr even on a terminal, instead of the full-screen view.
    #[arg(long)]
    pub no_tui: bool,
    /// Print one JSON document instead of the human report.
    #[arg(long)]
    pub json: bool,
    /// Also write the report as a self-contained HTML page here.
    #[arg(long, value_name = "OUT.html")]
    pub html: Option<PathBuf>,
    /// seccomp: measure its cost by sampling alone (cpu-clock, kernel stacks), with no
    /// syscall probe attached, so no task is sent down the slow syscall path by ctrace.
    #[arg(long, conflicts_with_all = ["count_only", "duty_cycle"])]
    pub sampled: bool,
    /// seccomp: rates and the slowdown finding over this sliding window in serve (and the
    /// live view), so that a container gone quiet loses its finding.
    #[arg(long, default_value = "60s", value_parser = positive_duration, hide = true)]
    pub seccomp_window: Duration,
    /// seccomp: count syscalls only (no timestamps); the cheapest mode.
    #[arg(long)]
    pub count_only: bool,
    /// seccomp: (process, syscall) pairs the kernel maps hold; 0: as many as 8 MiB of per-CPU
    /// histograms hold on this node (8,192 on 2 CPUs, 1,024 from 16 CPUs). Dead processes'
    /// pairs leave the map each interval (their figures are kept); beyond it, calls are dropped.
    #[arg(long, default_value_t = 0)]
    pub max_syscall_keys: u32,
    /// Attach the syscall probes for only this percentage of each interval, to bound overhead.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u8).range(1..=100))]
    pub duty_cycle: u8,
    /// sem: a udev cookie (key 0x0d4d....) is leaked once its last change is this old, whoever is
    /// alive (as `dmsetup udevcomplete_all` sees it); another set once its creator is gone and
    /// nobody used it for this long.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub sem_leak_age: Duration,
    /// zombie: zombies unreaped for longer than this under any parent raise a finding.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub zombie_age: Duration,
    /// Rows per table and histograms shown in the human report.
    #[arg(long, default_value_t = 5)]
    pub top: usize,
    /// Rank processes, containers and syscalls by call count (what a seccomp filter's cost
    /// follows) or by time inside the calls (latency mode; calls that block rank high).
    #[arg(long, value_enum, default_value_t = Sort::Count)]
    pub sort: Sort,
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
    /// Open HTTP connections at most; past it the oldest idle one is closed.
    #[arg(long, default_value_t = 1024, value_parser = at_least_one)]
    pub max_connections: usize,
    /// Every endpoint but /healthz needs `Authorization: Bearer TOKEN`, the token being this
    /// file's content (re-read when it changes). Needed to listen beyond loopback.
    #[arg(long, value_name = "FILE")]
    pub auth_token_file: Option<PathBuf>,
    /// Listen beyond loopback without authentication: anyone who reaches the port reads what
    /// a root agent sees (paths, process and container names).
    #[arg(long)]
    pub allow_unauthenticated: bool,
    /// Serve HTTPS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Accept only clients with a certificate this CA (PEM) signed: mutual TLS, which
    /// authenticates them (TLS alone authenticates nobody). Needs --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum BenchCmd {
    /// serve's own targets: event to NDJSON line, idle CPU, /metrics under idle connections
    /// and a slow reader; met or MISSED, non-zero exit when one is missed.
    Agent {
        /// Samples of the latencies (at least 10).
        #[arg(long, default_value_t = 100)]
        samples: usize,
        /// Seconds of idle serve measured.
        #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
        idle_secs: u64,
    },
    /// ns per syscall under no filter, Docker's default profile, your profiles and running
    /// processes' own filters; and your command's wall time under each.
    Seccomp(BenchSeccompArgs),
    /// Added ns per syscall: bare, empty probe pair (floor), ctrace modes, and bpftrace, with
    /// ratios to the floor (bootstrap 95% intervals) and each program's run time.
    Overhead {
        /// Syscalls per measurement.
        #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..))]
        iterations: u64,
        /// Interleaved rounds (at least 10), each measuring every case once in shuffled order;
        /// medians are reported.
        #[arg(long, default_value_t = 10, value_parser = at_least_one)]
        runs: usize,
        /// Seconds of exit storm (fork and reap on every CPU) under `trace zombie`; 0 skips it.
        #[arg(long, default_value_t = 5.0, value_parser = seconds, allow_hyphen_values = true)]
        storm_secs: f64,
        /// Also check the sampled seccomp cost against lost ns per syscall x syscall rate, with
        /// two containers of this image (it needs dd): default profile and unconfined.
        #[arg(long, value_name = "IMAGE")]
        docker: Option<String>,
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
    #[arg(long = "pid", value_name = "PID", value_parser = pid, allow_hyphen_values = true)]
    pub pids: Vec<u32>,
    /// Workloads to run (default: all).
    #[arg(long = "workload", value_enum)]
    pub workloads: Vec<Workload>,
    /// Operations per measurement (clone-wait runs a fiftieth of it).
    #[arg(long, default_value_t = 200_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub iterations: u64,
    /// Measurements per setup; the median is reported.
    #[arg(long, default_value_t = 5, value_parser = at_least_one)]
    pub runs: usize,
    /// The container's capabilities, for the profiles' includes/excludes.caps: names, comma-separated; `default` is Docker's default set (the default).
    #[arg(long, value_name = "CAPS", value_delimiter = ',')]
    pub caps: Vec<String>,
    /// Write each setup's filter program(s) into DIR, as raw struct sock_filter arrays.
    #[arg(long, value_name = "DIR")]
    pub save_filters: Option<PathBuf>,
    /// Compare CMD in two containers of IMAGE: Docker's default profile against seccomp=unconfined.
    #[arg(long, value_name = "IMAGE")]
    pub docker: Option<String>,
    /// Print one JSON document instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Also write the results as a self-contained HTML page here.
    #[arg(long, value_name = "OUT.html")]
    pub html: Option<PathBuf>,
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

/// The kernel's comm filter map holds this many names (FILTER_COMMS in tracer-ebpf).
pub const MAX_COMMS: usize = 64;

impl TraceArgs {
    /// What no single value parser can see: limits across repeated flags.
    pub fn check(&self) -> Result<(), Usage> {
        if self.comms.len() > MAX_COMMS {
            return Err(Usage(format!(
                "--comm was given {} times; at most {MAX_COMMS} names can be traced at once",
                self.comms.len()
            )));
        }
        Ok(())
    }
}

fn positive_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| e.to_string())?;
    if d.is_zero() {
        return Err("must be more than zero (e.g. 500ms, 2s)".into());
    }
    Ok(d)
}

/// The shortest `--interval`: each one redraws the view or prints a line per problem and takes
/// a snapshot of the report; faster than this is a flood, not a view.
pub const MIN_INTERVAL: Duration = Duration::from_millis(100);

fn interval(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| e.to_string())?;
    if d < MIN_INTERVAL {
        return Err("must be at least 100ms".into());
    }
    Ok(d)
}

fn pid(s: &str) -> Result<u32, String> {
    match s.parse::<u32>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err("a pid is a positive number".into()),
    }
}

fn comm(s: &str) -> Result<String, String> {
    if s.is_empty() || s.len() >= COMM_LEN {
        return Err(format!(
            "a command name has 1 to {} bytes (the kernel truncates longer ones)",
            COMM_LEN - 1
        ));
    }
    Ok(s.to_string())
}

/// How syscall tables are ranked (`--sort`). By count by default: a filter's cost is paid per
/// call, and ranking by time fills the table with calls that block (futex, epoll_wait, sleeps).
#[derive(ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Sort {
    #[default]
    Count,
    Time,
}

/// A syscall pattern `bench seccomp` times (what each runs: `seccomp::workload`).
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Workload {
    /// getppid: the entry cost of one syscall.
    Getppid,
    /// write then read one byte through a pipe.
    Pipe,
    /// sendto then recvfrom one byte on a loopback UDP socket.
    Sendto,
    /// open then close /dev/null.
    OpenClose,
    /// fork a child that exits at once, and wait for it.
    CloneWait,
}

fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err("must be a whole number of at least 1".into()),
    }
}

fn seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
        _ => Err("must be a number of seconds, 0 or more".into()),
    }
}

#[cfg(test)]
#[path = "cli_tests.rs"]
mod tests;
