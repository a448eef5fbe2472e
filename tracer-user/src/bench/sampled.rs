//! `bench overhead --docker IMAGE`: how far the sampled seccomp cost is from the benchmark's.
//! Two containers run the same syscall-bound loop (`dd bs=1`: one read and one write per byte),
//! one under Docker's default profile, one unconfined. The expected loss is the default
//! container's own filter's lost ns per syscall (getppid with and without it, as `bench seccomp`
//! computes it: per-round p50 differences, their median)
//! (measured with both loops paused) times the loop's syscall rate (read and write counts in /proc/PID/io, an oracle outside
//! ctrace); `trace seccomp --sampled` gives the measured one.

use std::{process::Command, time::Instant};

use anyhow::{Context as _, Result, bail};
use serde::Serialize;

use super::agents::Agent;
use crate::seccomp::{
    bench::{measure, stats::lost_per_syscall},
    filter,
    workload::{Timing, Workload},
};

/// Rounds of getppid with and without the filter, interleaved, as `bench seccomp` runs them.
const ROUNDS: usize = 7;
const CALLS: u64 = 200_000;

/// `bench seccomp`'s lost ns per syscall: per round, the p50 under the filter minus the p50
/// without it; the median over the rounds.
fn lost_ns(filters: &[Vec<u8>]) -> Result<f64> {
    let (mut none, mut under): (Vec<Timing>, Vec<Timing>) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        none.push(measure(Workload::Getppid, CALLS, &[])?.0);
        under.push(measure(Workload::Getppid, CALLS, filters)?.0);
    }
    Ok(lost_per_syscall(&none, &under, 1.0).median)
}

const NAMES: [&str; 2] = [
    "ctrace-bench-sampled-default",
    "ctrace-bench-sampled-unconfined",
];
/// The largest relative gap between sampled and expected loss that meets the target.
pub const TOLERANCE: f64 = 0.30;

#[derive(Serialize, Debug)]
pub struct Side {
    pub container: &'static str,
    pub syscalls_per_s: f64,
    pub expected_ms_per_s: f64,
    pub sampled_ms_per_s: f64,
    pub sampled_ci95: (f64, f64),
}

#[derive(Serialize, Debug)]
pub struct Accuracy {
    pub lost_ns_per_syscall: f64,
    pub seconds: u64,
    pub default_profile: Side,
    pub unconfined: Side,
    /// (sampled - expected) / expected for the default profile.
    pub error: f64,
    pub met: bool,
    /// The unconfined twin's sampled loss under 5% of the default profile's expected one.
    pub twin_met: bool,
}

/// Removes the containers whatever happens.
struct Containers;

impl Drop for Containers {
    fn drop(&mut self) {
        for n in NAMES {
            let _ = Command::new("docker").args(["rm", "-f", n]).output();
        }
    }
}

fn docker(args: &[&str]) -> Result<String> {
    let out = Command::new("docker")
        .args(args)
        .output()
        .context("running docker")?;
    if !out.status.success() {
        bail!(
            "docker {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Read and write syscalls so far (`syscr` + `syscw`).
fn rw_calls(pid: u32) -> Result<u64> {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io"))?;
    let field = |k: &str| -> u64 {
        crate::node::status_field(&io, k)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Ok(field("syscr") + field("syscw"))
}

pub fn accuracy(image: &str, seconds: u64) -> Result<Accuracy> {
    let _guard = Containers;
    let mut pids = Vec::new();
    for (name, opt) in NAMES.iter().zip([None, Some("seccomp=unconfined")]) {
        let _ = docker(&["rm", "-f", name]);
        let mut args = vec!["run", "-d", "--network", "none", "--name", name];
        if let Some(o) = opt {
            args.extend(["--security-opt", o]);
        }
        args.extend([image, "dd", "if=/dev/zero", "of=/dev/null", "bs=1"]);
        docker(&args)?;
        let pid: u32 = docker(&["inspect", "-f", "{{.State.Pid}}", name])?.parse()?;
        pids.push(pid);
    }
    let filters = filter::filters_of(pids[0])?;
    // Both loops frozen (cgroup freezer) meanwhile: on a small node they would take the CPUs
    // the paired rounds run on.
    for n in NAMES {
        docker(&["pause", n])?;
    }
    let lost = lost_ns(&filters);
    for n in NAMES {
        docker(&["unpause", n])?;
    }
    let lost = lost?.max(0.0);
    let agent = Agent::start(&[
        "trace",
        "seccomp",
        "--sampled",
        "--container",
        NAMES[0],
        "--container",
        NAMES[1],
        "--duration",
        &format!("{}s", seconds + 60),
        "--json",
    ])?;
    let t0 = Instant::now();
    let before = [rw_calls(pids[0])?, rw_calls(pids[1])?];
    std::thread::sleep(std::time::Duration::from_secs(seconds));
    let after = [rw_calls(pids[0])?, rw_calls(pids[1])?];
    let wall = t0.elapsed().as_secs_f64();
    let report: serde_json::Value = serde_json::from_str(&agent.stop()?)?;
    let side = |i: usize| -> Side {
        let row = report["seccomp"]["sampled"]["containers"]
            .as_array()
            .and_then(|rows| rows.iter().find(|r| r["container_name"] == NAMES[i]));
        let f = |k: &str| row.and_then(|r| r["seccomp"][k].as_f64()).unwrap_or(0.0);
        let rate = (after[i] - before[i]) as f64 / wall;
        Side {
            container: NAMES[i],
            syscalls_per_s: rate,
            // The unconfined twin has no filter: nothing is expected.
            expected_ms_per_s: if i == 0 { rate * lost / 1e6 } else { 0.0 },
            sampled_ms_per_s: f("ms_per_s"),
            sampled_ci95: (f("low"), f("high")),
        }
    };
    let (d, u) = (side(0), side(1));
    let error = (d.sampled_ms_per_s - d.expected_ms_per_s) / d.expected_ms_per_s;
    Ok(Accuracy {
        lost_ns_per_syscall: lost,
        seconds,
        met: error.abs() <= TOLERANCE,
        twin_met: u.sampled_ms_per_s <= 0.05 * d.expected_ms_per_s,
        error,
        default_profile: d,
        unconfined: u,
    })
}

pub fn print(a: &Accuracy) {
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    println!(
        "\nseccomp sampled accuracy ({} s, dd bs=1 in two containers; lost {:.1} ns/syscall from \
         getppid under the default container's own filter, bench seccomp's p50 rounds):",
        a.seconds, a.lost_ns_per_syscall
    );
    println!(
        "{:<34} {:>12} {:>14} {:>14} {:>18}",
        "container", "syscalls/s", "expected ms/s", "sampled ms/s", "[95% CI]"
    );
    for s in [&a.default_profile, &a.unconfined] {
        println!(
            "{:<34} {:>12.0} {:>14.2} {:>14.2} {:>18}",
            s.container,
            s.syscalls_per_s,
            s.expected_ms_per_s,
            s.sampled_ms_per_s,
            format!("[{:.2}-{:.2}]", s.sampled_ci95.0, s.sampled_ci95.1)
        );
    }
    println!(
        "  default profile: sampled within ±{:.0}% of lost ns x rate: {:+.0}% -> {}",
        TOLERANCE * 100.0,
        a.error * 100.0,
        verdict(a.met)
    );
    println!(
        "  unconfined twin: sampled about zero (< 5% of the expected loss): {:.2} ms/s -> {}",
        a.unconfined.sampled_ms_per_s,
        verdict(a.twin_met)
    );
}
