//! `bench seccomp -- CMD`: the user's own command timed as a whole under each setup, or with
//! `--docker IMAGE` in a container with Docker's default profile against unconfined.

use std::{process::Command, time::Instant};

use anyhow::{Result, bail};
use indicatif::ProgressBar;
use serde::Serialize;

use super::{FilterFile, Setup};
use crate::cli::BenchSeccompArgs;

/// The command's timings under each setup (none when no command was given).
pub(super) fn time(
    args: &BenchSeccompArgs,
    setups: &[Setup],
    bar: &ProgressBar,
) -> Result<Vec<CommandRow>> {
    let mut commands = Vec::new();
    if !args.command.is_empty() && args.docker.is_none() {
        let mut none = 0.0;
        for s in setups {
            let file = FilterFile::new(&s.filters)?;
            let exe = std::env::current_exe()?;
            let what = Timed {
                command: &args.command,
                setup: &s.name,
            };
            let (min, med) = repeat(args.runs, bar, &what, || {
                let mut c = Command::new(&exe);
                c.args(["__seccomp-exec", "--filters"])
                    .arg(&file.0)
                    .arg("--")
                    .args(&args.command);
                c
            })?;
            if s.filters.is_empty() {
                none = med;
            }
            commands.push(CommandRow {
                setup: s.name.clone(),
                min_s: min,
                median_s: med,
                vs_none: med / none,
            });
        }
    }
    if let Some(image) = &args.docker {
        if args.command.is_empty() {
            bail!(
                "--docker IMAGE needs a command: ctrace bench seccomp --docker IMAGE -- CMD ARGS"
            );
        }
        let mut none = 0.0;
        for (name, opt) in [
            ("docker unconfined", Some("seccomp=unconfined")),
            ("docker default profile", None),
        ] {
            let what = Timed {
                command: &args.command,
                setup: name,
            };
            let (min, med) = repeat(args.runs, bar, &what, || {
                let mut c = Command::new("docker");
                c.args(["run", "--rm", "--network", "none"]);
                if let Some(o) = opt {
                    c.args(["--security-opt", o]);
                }
                c.arg(image).args(&args.command);
                c
            })?;
            if opt.is_some() {
                none = med;
            }
            commands.push(CommandRow {
                setup: name.into(),
                min_s: min,
                median_s: med,
                vs_none: med / none,
            });
        }
    }
    Ok(commands)
}

#[derive(Serialize)]
pub(super) struct CommandRow {
    pub(super) setup: String,
    pub(super) min_s: f64,
    pub(super) median_s: f64,
    pub(super) vs_none: f64,
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The user's command, as they typed it, and the setup it runs under: what a failure names
/// (never ctrace's own wrapper command line).
struct Timed<'a> {
    command: &'a [String],
    setup: &'a str,
}

fn time_command(cmd: &mut Command, what: &Timed) -> Result<f64> {
    let t = Instant::now();
    cmd.stdout(std::process::Stdio::null());
    let st = super::leash::run(cmd, |mut c| Ok(c.wait()?))?;
    if !st.success() {
        bail!(
            "your command `{}` failed under {} ({st}); bench seccomp times commands that succeed",
            what.command.join(" "),
            what.setup
        );
    }
    Ok(t.elapsed().as_secs_f64())
}

/// Warm-up once, then `runs` timed runs: (min, median) in seconds.
fn repeat(
    runs: usize,
    bar: &ProgressBar,
    what: &Timed,
    mut make: impl FnMut() -> Command,
) -> Result<(f64, f64)> {
    time_command(&mut make(), what)?;
    bar.inc(1);
    let mut v = Vec::new();
    for _ in 0..runs.max(1) {
        v.push(time_command(&mut make(), what)?);
        bar.inc(1);
    }
    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
    Ok((min, median(&mut v)))
}
