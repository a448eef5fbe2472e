//! The sampled cost's residual: what a filter costs outside every frame the classifier can
//! name (the syscall table's dispatch after the slow path, the entry's jump back, caches),
//! calibrated per kernel and CPU. It is per call, not per filter instruction, so it is kept
//! as samples per slow-path sample (the slow path is paid once per call), measured on twins:
//! a getppid loop under an allow-all filter and one with none, on one CPU, sampled by a
//! child `ctrace trace seccomp --sampled` while no syscall probe is attached.

mod cache;
pub mod twin;

use std::{
    io::{BufRead as _, BufReader, Read as _},
    process::{Child, Command, Stdio},
    sync::OnceLock,
};

use anyhow::{Context as _, Result, anyhow, bail};
use serde::{Deserialize, Serialize};

/// Rounds of the calibration, each round's sampled window, and its sampling rate (five times
/// the default: the residual is a ratio of counts, so more samples make it steadier).
const ROUNDS: usize = 3;
const WINDOW: &str = "2s";
const HZ: &str = "4999";
/// Set to `off`: no calibration, no residual (the calibration's own child runs so).
pub const ENV: &str = "CTRACE_SECCOMP_RESIDUAL";

/// Samples the classifier misses per slow-path sample, for this kernel and CPU.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Residual {
    /// The median over rounds, and the lowest and highest round.
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
            crate::say!("ctrace: calibrating the sampled seccomp residual for this kernel and CPU (once, about 10 s)");
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

struct Twin(Child);

impl Twin {
    fn start(filter: &str) -> Result<Twin> {
        let mut child = Command::new(std::env::current_exe()?)
            .args(["__seccomp-twin", filter])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .context("starting a calibration twin")?;
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line)?;
        if line.trim() != "ready" {
            let _ = child.kill();
            bail!("the calibration twin ({filter}) did not start: {line:?}");
        }
        Ok(Twin(child))
    }

    /// Stops it (its stdin closes) and returns its ns per call.
    fn ns_per_call(&mut self) -> Result<f64> {
        drop(self.0.stdin.take());
        let mut totals = String::new();
        if let Some(out) = self.0.stdout.as_mut() {
            out.read_to_string(&mut totals)?;
        }
        self.0.wait()?;
        let v: serde_json::Value = serde_json::from_str(&totals)
            .map_err(|e| anyhow!("the calibration twin's totals: {e}"))?;
        let calls = v["calls"].as_f64().unwrap_or(0.0);
        if calls <= 0.0 {
            bail!("the calibration twin made no call");
        }
        Ok(v["cpu_ns"].as_f64().unwrap_or(0.0) / calls)
    }
}

impl Drop for Twin {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One round: the filtered twin's sample counts, and its true seccomp share of CPU time.
fn round() -> Result<f64> {
    let mut filtered = Twin::start("allow")?;
    let mut open = Twin::start("none")?;
    let (f, u) = (filtered.0.id().to_string(), open.0.id().to_string());
    let out = Command::new(std::env::current_exe()?)
        .args(["trace", "seccomp", "--sampled", "--pid", &f, "--pid", &u])
        .args(["--duration", WINDOW, "--json"])
        .env(ENV, "off")
        .env("CTRACE_SAMPLE_HZ", HZ)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .output()?;
    let ns_f = filtered.ns_per_call()?;
    let ns_u = open.ns_per_call()?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        bail!("its trace failed: {}", err.lines().last().unwrap_or(""));
    }
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let row = report["seccomp"]["sampled"]["containers"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["pid"].as_u64() == f.parse().ok()))
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
    Ok((truth_share * n("total") - seccomp) / slow)
}

fn measure(key: &cache::Key) -> Result<Residual> {
    let mut ks = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        ks.push(round()?);
    }
    ks.sort_by(f64::total_cmp);
    Ok(Residual {
        per_slow_path_sample: ks[ks.len() / 2],
        low: ks[0],
        high: ks[ks.len() - 1],
        rounds: ks.len(),
        release: key.release.clone(),
        cpu: key.cpu.clone(),
        mitigations: key.mitigations.clone(),
        source: String::new(),
    })
}
