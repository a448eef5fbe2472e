//! The parent's side of a calibration twin: starts it, keeps the running totals it prints every
//! 10 ms, and gives its ns per call over any window, so that the truth covers exactly the
//! sampled window (as the oracle test's does).

use std::{
    io::{BufRead as _, BufReader},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    thread::JoinHandle,
    time::Instant,
};

use anyhow::{Context as _, Result, anyhow, bail};

/// Running totals, and when they were read.
#[derive(Clone, Copy)]
struct Totals {
    at: Instant,
    calls: f64,
    cpu_ns: f64,
}

pub struct Twin {
    child: Child,
    totals: Arc<Mutex<Vec<Totals>>>,
    reader: Option<JoinHandle<()>>,
}

impl Twin {
    pub fn start(filter: &str) -> Result<Twin> {
        let mut child = Command::new(std::env::current_exe()?)
            .args(["__seccomp-twin", filter])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .context("starting a calibration twin")?;
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().and_then(|l| l.ok()).unwrap_or_default();
        if first.trim() != "ready" {
            let _ = child.kill();
            let _ = child.wait();
            bail!("the calibration twin ({filter}) did not start: {first:?}");
        }
        let totals = Arc::new(Mutex::new(Vec::new()));
        let keep = Arc::clone(&totals);
        let reader = std::thread::spawn(move || {
            for l in lines.map_while(Result::ok) {
                let Ok(v) = serde_json::from_str::<serde_json::Value>(&l) else {
                    continue;
                };
                let f = |k: &str| v[k].as_f64().unwrap_or(0.0);
                let t = Totals {
                    at: Instant::now(),
                    calls: f("calls"),
                    cpu_ns: f("cpu_ns"),
                };
                keep.lock().unwrap_or_else(|e| e.into_inner()).push(t);
            }
        });
        Ok(Twin {
            child,
            totals,
            reader: Some(reader),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops it (its stdin closes) and waits for its last totals.
    pub fn stop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }

    /// Its CPU ns per call between the last totals read by `from` and by `to`.
    pub fn ns_per_call(&self, from: Instant, to: Instant) -> Result<f64> {
        let totals = self.totals.lock().unwrap_or_else(|e| e.into_inner());
        let last = |t: Instant| totals.iter().rev().find(|x| x.at <= t).copied();
        let (Some(a), Some(b)) = (last(from), last(to)) else {
            bail!("the calibration twin printed no totals in the window");
        };
        let calls = b.calls - a.calls;
        if calls <= 0.0 {
            return Err(anyhow!("the calibration twin made no call in the window"));
        }
        Ok((b.cpu_ns - a.cpu_ns) / calls)
    }
}

impl Drop for Twin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
