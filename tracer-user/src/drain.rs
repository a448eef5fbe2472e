//! The drain stage: every ring buffer is an `AsyncFd` reader on a tokio runtime of its own thread,
//! woken by the kernel when records arrive. It copies each record out (as `Bytes`) into a queue
//! bounded in bytes and wakes the analysis stage (trace's or serve's loop). Whatever the analysis
//! does meanwhile (a slow Docker API answer, a /proc scan, a held loop), the kernel's ring keeps
//! being emptied; a record that finds the queue full is dropped and counted (`*_queue_full`).
//! Signals are handled on the same runtime (stop.rs).

use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex, OnceLock,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
};

use anyhow::{Context as _, Result};
use aya::maps::{MapData, RingBuf};
use bytes::Bytes;
use tokio::{
    io::{Interest, unix::AsyncFd},
    sync::{Notify, mpsc},
};
use tracer_common::Drop;

/// Records one ring may have waiting for the analysis, in bytes: a few times the largest kernel
/// ring (1 MiB), so a stalled analysis loses nothing for seconds, and bounded for the RSS target.
pub const QUEUE_BYTES: usize = 4 << 20;

/// The drain stage's runtime and what every loop shares with it.
pub struct Stage {
    pub runtime: tokio::runtime::Handle,
    /// Notified when a drain queued records, or a stop was asked: the analysis loop wakes.
    pub wake: Arc<Notify>,
    /// Records dropped at a full queue, by reason.
    drops: Mutex<BTreeMap<Drop, Arc<AtomicU64>>>,
    /// Problems with records queued since `take_dirty`: which parts of the report can have
    /// changed (serve's findings stream follows them at once).
    dirty: Mutex<Vec<&'static str>>,
}

static STAGE: OnceLock<Stage> = OnceLock::new();

/// The stage, started on first use.
pub fn stage() -> &'static Stage {
    STAGE.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("drain".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a tokio runtime for the drain stage");
                let _ = tx.send(rt.handle().clone());
                // Runs the drain and signal tasks until the process ends.
                rt.block_on(std::future::pending::<()>());
            })
            .expect("the drain thread");
        Stage {
            runtime: rx.recv().expect("the drain runtime"),
            wake: Arc::new(Notify::new()),
            drops: Mutex::new(BTreeMap::new()),
            dirty: Mutex::new(Vec::new()),
        }
    })
}

impl Stage {
    /// The records dropped at full queues so far, by reason.
    pub fn drops(&self) -> BTreeMap<Drop, u64> {
        self.drops
            .lock()
            .map(|d| {
                d.iter()
                    .map(|(w, n)| (*w, n.load(Ordering::Relaxed)))
                    .filter(|(_, n)| *n > 0)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The problems with records queued since the last call.
    pub fn take_dirty(&self) -> Vec<&'static str> {
        self.dirty
            .lock()
            .map(|mut d| std::mem::take(&mut *d))
            .unwrap_or_default()
    }

    fn mark(&self, problem: &'static str) {
        if let Ok(mut d) = self.dirty.lock()
            && !d.contains(&problem)
        {
            d.push(problem);
        }
    }
}

/// What the drain task and the analysis share of one ring.
struct Shared {
    /// The kernel ring: the drain task holds it while it copies; the analysis takes it to read
    /// what arrived after the last wake-up, so a report is never behind the kernel.
    ring: Mutex<RingBuf<MapData>>,
    queued: AtomicUsize,
    dropped: Arc<AtomicU64>,
    problem: &'static str,
}

impl Shared {
    /// Moves every waiting record into the queue; returns how many were queued.
    fn pump(&self, ring: &mut RingBuf<MapData>, tx: &mpsc::UnboundedSender<Bytes>) -> usize {
        let mut n = 0;
        while let Some(item) = ring.next() {
            let len = item.len().max(1);
            if self.queued.load(Ordering::Relaxed) + len > QUEUE_BYTES {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            self.queued.fetch_add(len, Ordering::Relaxed);
            if tx.send(Bytes::copy_from_slice(&item)).is_ok() {
                n += 1;
            }
        }
        n
    }
}

/// One ring buffer as the analysis sees it: a queue of records fed by the drain stage.
pub struct Ring {
    shared: Arc<Shared>,
    tx: mpsc::UnboundedSender<Bytes>,
    rx: mpsc::UnboundedReceiver<Bytes>,
    task: tokio::task::JoinHandle<()>,
}

impl Ring {
    /// Starts draining `ring` on the drain stage; full-queue drops count as `why`.
    pub fn start(ring: RingBuf<MapData>, why: Drop) -> Result<Ring> {
        let stage = stage();
        let dropped = Arc::clone(
            stage
                .drops
                .lock()
                .map_err(|_| anyhow::anyhow!("drain stage poisoned"))?
                .entry(why)
                .or_default(),
        );
        let fd = std::os::fd::AsRawFd::as_raw_fd(&ring);
        let shared = Arc::new(Shared {
            ring: Mutex::new(ring),
            queued: AtomicUsize::new(0),
            dropped,
            problem: why.problem(),
        });
        let (tx, rx) = mpsc::unbounded_channel();
        let afd = {
            let _enter = stage.runtime.enter();
            // SAFETY: the fd is the ring's, and `Polled` holds the ring, so it stays open and
            // the same for as long as the registration lives.
            unsafe {
                AsyncFd::register_with_interest(Polled(Arc::clone(&shared), fd), Interest::READABLE)
            }
            .map_err(std::io::Error::from)
            .context("polling a ring buffer")?
        };
        let task = stage.runtime.spawn(drain_task(afd, tx.clone()));
        Ok(Ring {
            shared,
            tx,
            rx,
            task,
        })
    }

    /// The next record, oldest first: queued ones, then those still in the kernel ring.
    pub fn next(&mut self) -> Option<Bytes> {
        if self.rx.is_empty()
            && let Ok(mut ring) = self.shared.ring.lock()
        {
            // Under the lock the drain task is not between its read and its send: whatever
            // the ring holds now is younger than everything queued.
            if self.rx.is_empty() {
                self.shared.pump(&mut ring, &self.tx);
            }
        }
        let b = self.rx.try_recv().ok()?;
        self.shared
            .queued
            .fetch_sub(b.len().max(1), Ordering::Relaxed);
        Some(b)
    }
}

impl std::ops::Drop for Ring {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The ring's fd for epoll. It holds the ring (which owns the fd) so that the fd outlives its
/// registration: `AsyncFd` deregisters before its inner value is dropped.
struct Polled(Arc<Shared>, std::os::fd::RawFd);

impl std::os::fd::AsRawFd for Polled {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.1
    }
}

async fn drain_task(afd: AsyncFd<Polled>, tx: mpsc::UnboundedSender<Bytes>) {
    let stage = stage();
    let shared = Arc::clone(&afd.get_ref().0);
    loop {
        let Ok(mut guard) = afd.readable().await else {
            return;
        };
        let n = match shared.ring.lock() {
            Ok(mut ring) => shared.pump(&mut ring, &tx),
            Err(_) => return,
        };
        // Readiness is cleared only if no wake-up came since it was reported (tokio's tick), so a
        // record produced after the last read still wakes this task.
        guard.clear_ready();
        if n > 0 {
            stage.mark(shared.problem);
            stage.wake.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stage_starts_once_and_wakes_its_waiter() {
        let s = stage();
        assert!(std::ptr::eq(s, stage()));
        s.wake.notify_one();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            tokio::time::timeout(std::time::Duration::from_secs(1), s.wake.notified())
                .await
                .expect("a stored wake-up is not lost");
        });
    }
}
