//! ctrace: an eBPF tracer for container hosts.

mod attach;
mod attrib;
mod bench;
mod bpf_cost;
mod btf;
mod btf_offsets;
mod check;
mod cli;
mod cpu_pin;
mod doctor;
mod drain;
mod events;
mod evidence;
mod globals;
mod hist;
mod html;
mod input;
mod live;
mod map_sizes;
mod node;
mod other_tracers;
mod out;
mod overlay;
mod prealloc;
mod probe_info;
mod problem;
mod progress;
mod registry;
mod report;
mod seccomp;
mod sem;
mod serve;
mod shared;
mod sigpipe;
mod stop;
mod syscalls;
mod tier;
mod trace;
mod zombie;

use std::process::ExitCode;

use clap::Parser as _;
use cli::{BenchCmd, Cli, Cmd};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) if !e.use_stderr() => {
            let _ = e.print(); // --help, --version
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            say!("ctrace: {} (see ctrace --help)", one_line(&e.to_string()));
            return ExitCode::from(2);
        }
    };
    let level = match cli.verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    // Through the live view, which holds log lines back while it owns the terminal.
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(level))
        .target(env_logger::Target::Pipe(Box::new(live::LogSink)))
        .init();
    let result = match cli.cmd {
        Cmd::Doctor { json } => doctor::run(json).map(|ok| {
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }),
        Cmd::Trace(args) => trace::run(args, cli.verbose).map(|()| ExitCode::SUCCESS),
        Cmd::Serve(args) => serve::run(args, cli.verbose).map(|()| ExitCode::SUCCESS),
        Cmd::Bench {
            what:
                BenchCmd::Overhead {
                    iterations,
                    runs,
                    storm_secs,
                    docker,
                    json,
                },
        } => bench::overhead(iterations, runs, storm_secs, docker.as_deref(), json)
            .map(|()| ExitCode::SUCCESS),
        Cmd::Bench {
            what: BenchCmd::Agent { samples, idle_secs },
        } => bench::agent(samples, idle_secs).map(|()| ExitCode::SUCCESS),
        Cmd::Bench {
            what: BenchCmd::Seccomp(args),
        } => seccomp::bench::run(&args).map(|()| ExitCode::SUCCESS),
        Cmd::Report { html, top, report } => {
            html::run(&report, &html, top).map(|()| ExitCode::SUCCESS)
        }
        Cmd::Loop(args) => bench::syscall_loop(&args).map(|()| ExitCode::SUCCESS),
        Cmd::SeccompChild {
            workload,
            iterations,
            filters,
        } => seccomp::bench::child(workload, iterations, &filters).map(|()| ExitCode::SUCCESS),
        Cmd::SeccompTwin { filter } => {
            seccomp::residual::twin::run(&filter).map(|()| ExitCode::SUCCESS)
        }
        Cmd::SeccompExec { filters, command } => {
            seccomp::bench::exec(&filters, &command).map(|()| ExitCode::SUCCESS)
        }
    };
    match result {
        Ok(code) => code,
        // `ctrace ... | head`: the reader has what it wanted; the probes are already gone.
        Err(e) if e.is::<out::Closed>() => ExitCode::SUCCESS,
        Err(e) if e.is::<out::Usage>() => {
            say!("ctrace: {e:#} (see ctrace --help)");
            ExitCode::from(2)
        }
        Err(e) => {
            say!("ctrace: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// clap's error as one line, without its usage block. A first line ending in ':' ("the following
/// required arguments were not provided:") is followed by what it names, indented: kept.
fn one_line(msg: &str) -> String {
    let mut lines = msg.lines();
    let first = lines
        .next()
        .unwrap_or("bad arguments")
        .trim_start_matches("error: ")
        .trim();
    if !first.ends_with(':') {
        return first.to_string();
    }
    let named: Vec<&str> = lines
        .take_while(|l| l.starts_with(' '))
        .map(str::trim)
        .collect();
    format!("{first} {}", named.join(", "))
}
