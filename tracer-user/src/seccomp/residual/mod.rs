//! The sampled cost's residual: what a filter costs outside every frame the classifier can
//! name (the syscall table's dispatch after the slow path, the entry's jump back, caches),
//! calibrated per kernel and CPU. It is per call, not per filter instruction, so it is kept
//! as samples per slow-path sample (the slow path is paid once per call), measured on twins:
//! a getppid loop under an allow-all filter and one with none, on one CPU, sampled by a
//! child `ctrace trace seccomp --sampled` while no syscall probe is attached.

mod cache;
pub mod twin;
mod twins;

use std::{
    io::{BufRead as _, BufReader},
    process::{Command, Stdio},
    sync::OnceLock,
    time::{Duration, Instant},
};

use anyhow::{Result, anyhow, bail};
use serde::{Deserialize, Serialize};
use twins::Twin;

/// Rounds of the calibration and each round's sampled window, at the default sampling rate:
/// a faster one walks the filtered twin's stack more often, which its own clock counts as
/// seccomp's time and so inflates the residual.
const ROUNDS: usize = 5;
const WINDOW: &str = "4s";
/// Set to `off`: no calibration, no residual (the calibration's own child runs so).
pub const ENV: &str = "CTRACE_SECCOMP_RESIDUAL";

/// Samples the classifier misses per slow-path sample, for this kernel and CPU.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Residual {
    /// Over all rounds pooled, and the lowest and highest round's own.
    pub per_slow_path_sample: f64,
    pub low: f64,
    pub high: f64,
    pub rounds: usize,
    /// What it is keyed on: the kernel release, the CPU model and the mitigations.
    pub release: String,
    pub cpu: String,
    pub mitigations: String,
    /// "measured" in this run, or "cached" from an earlier one.
    #[serde(skip_deserializing, default)]
    pub source: String,
}

static CURRENT: OnceLock<Option<Residual>> = OnceLock::new();

/// The residual for this node: cached, or measured now (before any probe is attached). None
/// when turned off or when it can't be measured (said once, on stderr).
pub fn prepare() -> Option<&'static Residual> {
    CURRENT
        .get_or_init(|| {
            if std::env::var(ENV).is_ok_and(|v| v == "off") {
                return None;
            }
            let key = cache::Key::of_node();
            if let Some(mut r) = cache::load(&key) {
                r.source = "cached".into();
                return Some(r);
            }
            crate::say!("ctrace: calibrating the sampled seccomp residual for this kernel and CPU (once, about 30 s)");
            match measure(&key) {
                Ok(mut r) => {
                    if let Err(e) = cache::store(&r) {
                        log::warn!("seccomp: the residual's calibration is not cached: {e:#}");
                    }
                    r.source = "measured".into();
                    Some(r)
                }
                Err(e) => {
                    crate::say!("ctrace: no seccomp residual calibration: {e:#}");
                    None
                }
            }
        })
        .as_ref()
}

/// What `prepare` found, for the sampler.
pub fn current() -> Option<&'static Residual> {
    CURRENT.get().and_then(Option::as_ref)
}

/// Runs the calibration's trace on the twins: its report, and when it said it had attached
/// (the sampled window starts there).
fn traced(f: u32, u: u32) -> Result<(serde_json::Value, Instant)> {
    let (f, u) = (f.to_string(), u.to_string());
    let mut child = Command::new(std::env::current_exe()?)
        .args(["trace", "seccomp", "--sampled", "--pid", &f, "--pid", &u])
        .args(["--duration", WINDOW, "--json"])
        .env(ENV, "off")
        .env_remove("CTRACE_SAMPLE_HZ")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let err = BufReader::new(child.stderr.take().unwrap());
    let watcher = std::thread::spawn(move || {
        let (mut at, mut last) = (None, String::new());
        for l in err.lines().map_while(Result::ok) {
            if at.is_none() && l.starts_with("ctrace: attached") {
                at = Some(Instant::now());
            }
            last = l;
        }
        (at, last)
    });
    let out = child.wait_with_output()?;
    let (at, last) = watcher
        .join()
        .map_err(|_| anyhow!("the stderr reader panicked"))?;
    if !out.status.success() {
        bail!("its trace failed: {last}");
    }
    let at = at.ok_or_else(|| anyhow!("its trace never said it had attached"))?;
    Ok((serde_json::from_slice(&out.stdout)?, at))
}

/// One round: (samples the classes missed, slow-path samples), against the twins' clocks over
/// the sampled window.
fn round() -> Result<(f64, f64)> {
    let mut filtered = Twin::start("allow")?;
    let mut open = Twin::start("none")?;
    let traced = traced(filtered.pid(), open.pid());
    filtered.stop();
    open.stop();
    let (report, start) = traced?;
    let secs = report["seccomp"]["sampled"]["seconds"]
        .as_f64()
        .unwrap_or(0.0);
    let end = start + Duration::from_secs_f64(secs);
    let ns_f = filtered.ns_per_call(start, end)?;
    let ns_u = open.ns_per_call(start, end)?;
    let row = report["seccomp"]["sampled"]["containers"]
        .as_array()
        .and_then(|rows| {
            rows.iter()
                .find(|r| r["pid"].as_u64() == Some(u64::from(filtered.pid())))
        })
        .ok_or_else(|| anyhow!("no row for the filtered twin"))?;
    let n = |k: &str| row["samples"][k].as_f64().unwrap_or(0.0);
    if n("slow_path_shared") > 0.0 {
        bail!("another tracer holds the syscall tracepoints: every task takes the slow path");
    }
    let slow = n("slow_path") + n("return_landing");
    if n("total") < 200.0 || slow < 10.0 {
        bail!(
            "too few samples ({} in all, {slow} in the slow path)",
            n("total")
        );
    }
    let seccomp = n("filter") + n("filter_entry") + slow;
    let truth_share = ((ns_f - ns_u) / ns_f).max(0.0);
    Ok((truth_share * n("total") - seccomp, slow))
}

/// The rounds pooled (all missed samples over all slow-path samples: steadier than a median
/// of ratios of small counts), with the lowest and highest round's own ratio.
fn measure(key: &cache::Key) -> Result<Residual> {
    let mut rounds = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        rounds.push(round()?);
    }
    let missed: f64 = rounds.iter().map(|r| r.0).sum();
    let slow: f64 = rounds.iter().map(|r| r.1).sum();
    let mut ks: Vec<f64> = rounds.iter().map(|(m, s)| m / s).collect();
    ks.sort_by(f64::total_cmp);
    Ok(Residual {
        per_slow_path_sample: missed / slow,
        low: ks[0],
        high: ks[ks.len() - 1],
        rounds: ks.len(),
        release: key.release.clone(),
        cpu: key.cpu.clone(),
        mitigations: key.mitigations.clone(),
        source: String::new(),
    })
}
