//! Exit storm: processes forked and reaped as fast as this machine can, on every CPU, while
//! `ctrace trace zombie` handles their exit events; the rate it keeps up with, and its drops.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result};
use serde::Serialize;

use super::agents::Agent;

#[derive(Serialize, Debug)]
pub struct Storm {
    pub seconds: f64,
    pub forkers: usize,
    pub exits_generated: u64,
    pub exits_seen: u64,
    pub dropped: u64,
    pub generated_per_s: f64,
    pub handled_per_s: f64,
}

/// fork, _exit, wait, until the deadline; returns how many.
fn forker(until: Instant, count: Arc<AtomicU64>) {
    while Instant::now() < until {
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            unsafe { libc::_exit(0) };
        }
        if pid > 0 {
            unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
            count.fetch_add(1, Ordering::Relaxed);
        }
    }
}

pub fn exit_storm(secs: f64) -> Result<Storm> {
    let agent = Agent::start(&["trace", "zombie", "--json", "--interval", "1s"])?;
    let forkers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let count = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let until = started + Duration::from_secs_f64(secs);
    let threads: Vec<_> = (0..forkers)
        .map(|_| {
            let c = Arc::clone(&count);
            std::thread::spawn(move || forker(until, c))
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
    let seconds = started.elapsed().as_secs_f64();
    // Time to drain what is still in the ring buffer.
    std::thread::sleep(Duration::from_millis(1500));
    let out = agent.stop()?;
    let report: serde_json::Value =
        serde_json::from_str(&out).context("ctrace trace zombie printed no JSON report")?;
    let exits_generated = count.load(Ordering::Relaxed);
    let exits_seen = report["zombie"]["exits"].as_u64().unwrap_or(0);
    let dropped = report["drops"]["zombie"].as_u64().unwrap_or(0)
        + report["drops"]["filter"].as_u64().unwrap_or(0);
    Ok(Storm {
        seconds,
        forkers,
        exits_generated,
        exits_seen,
        dropped,
        generated_per_s: exits_generated as f64 / seconds,
        handled_per_s: exits_seen.min(exits_generated) as f64 / seconds,
    })
}
