//! The calibration on a worker thread, behind a channel: its ptrace stops and seconds of
//! getppid rounds never hold the loop that drains the probes. ptrace binds a tracee to the
//! thread that seized it, so this one thread seizes, reads and detaches.

use std::{
    sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel},
    thread::JoinHandle,
    time::{Duration, Instant},
};

use anyhow::{Result, anyhow};

use super::{calibrator::Calibrator, estimate::Calibration};

/// A calibration longer than this is given up on (the worker finishes it for the cache).
const DEADLINE: Duration = Duration::from_secs(120);

enum Ask {
    Calibrate(u32),
    /// Measure every filter again (the probes are gone now).
    Forget,
}

type Answer = (u32, std::result::Result<Calibration, String>);

struct Running {
    tx: Sender<Ask>,
    rx: Receiver<Answer>,
    thread: JoinHandle<()>,
}

/// Started on the first request.
#[derive(Default)]
pub struct Worker {
    running: Option<Running>,
}

fn serve(asks: Receiver<Ask>, answers: Sender<Answer>) {
    let mut cal = Calibrator::default();
    for ask in asks {
        match ask {
            Ask::Forget => cal.forget_measured(),
            Ask::Calibrate(pid) => {
                let r = cal.calibrate(pid).map_err(|e| format!("{e:#}"));
                if answers.send((pid, r)).is_err() {
                    return;
                }
            }
        }
    }
}

impl Worker {
    fn running(&mut self) -> Result<&Running> {
        if self.running.is_none() {
            let (tx, asks) = channel();
            let (answers, rx) = channel();
            let thread = std::thread::Builder::new()
                .name("seccomp-calibration".into())
                .spawn(move || serve(asks, answers))?;
            self.running = Some(Running { tx, rx, thread });
        }
        self.running
            .as_ref()
            .ok_or_else(|| anyhow!("the calibration worker did not start"))
    }

    fn send(&mut self, ask: Ask) -> Result<()> {
        self.running()?
            .tx
            .send(ask)
            .map_err(|_| anyhow!("the calibration worker is gone"))
    }

    /// Forgets the figures measured so far: each filter is measured again.
    pub fn forget_measured(&mut self) {
        if self.running.is_some() {
            let _ = self.send(Ask::Forget);
        }
    }

    /// `pid`'s filter cost, waiting for the worker (never called from the drain loop: only
    /// once every syscall probe is gone).
    pub fn calibrate(&mut self, pid: u32) -> Result<Calibration> {
        self.send(Ask::Calibrate(pid))?;
        let rx = &self.running()?.rx;
        let until = Instant::now() + DEADLINE;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok((p, r)) if p == pid => return r.map_err(|e| anyhow!(e)),
                // A late answer to a request given up on.
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => {
                    return Err(anyhow!("pid {pid}: no calibration within {DEADLINE:?}"));
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(anyhow!("the calibration worker is gone"));
                }
            }
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if let Some(r) = self.running.take() {
            drop(r.tx);
            drop(r.rx);
            let _ = r.thread.join();
        }
    }
}
