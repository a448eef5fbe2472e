//! The live view of `ctrace trace`, on stderr (stdout stays the report). On a terminal: a
//! full-screen view (`screen`, `terminal`); otherwise, or with --no-tui or -v (whose log lines
//! share stderr), short plain lines (`plain`). The trace loop builds a `Model` each interval
//! (`trace::live_feed`) and hands it over; drawing, writing and reading keys happen on the view's own
//! thread, so a slow terminal never holds up the draining of the ring buffers.

mod held_log;
mod model;
mod plain;
mod screen;
mod terminal;

use std::{
    io::IsTerminal as _,
    sync::{
        Arc,
        atomic::AtomicBool,
        mpsc::{self, SyncSender, TrySendError},
    },
    thread::JoinHandle,
};

use anyhow::Result;

pub use held_log::Sink as LogSink;
pub use model::{Model, Tracker};
pub use terminal::restore as restore_terminal;

use crate::say;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Plain,
    Screen,
}

/// The full-screen view only where stderr is a terminal and nothing else writes to it.
pub fn kind(no_tui: bool, verbose: u8) -> Kind {
    if no_tui || verbose > 0 || !std::io::stderr().is_terminal() {
        Kind::Plain
    } else {
        Kind::Screen
    }
}

/// The view's thread, fed one model per interval.
pub struct View {
    tx: Option<SyncSender<Model>>,
    thread: Option<JoinHandle<()>>,
}

impl View {
    /// Starts the view; `stop` is the trace loop's stop flag, which q sets; `by_time` starts
    /// seccomp's table sorted by time (--sort time) rather than by syscalls/s.
    pub fn start(kind: Kind, stop: Arc<AtomicBool>, by_time: bool) -> Result<View> {
        let (tx, rx) = mpsc::sync_channel::<Model>(4);
        let thread = std::thread::Builder::new()
            .name("live-view".into())
            .spawn(move || {
                if kind == Kind::Screen {
                    match terminal::run(&rx, stop, by_time) {
                        Ok(()) => return,
                        // The terminal is restored by now: go on with plain lines.
                        Err(e) => say!("ctrace: live view: {e}; plain lines from here on"),
                    }
                }
                for m in rx {
                    plain::print(&m);
                }
            })?;
        Ok(View {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// Hands over this interval's model; a view still busy with earlier ones skips it.
    pub fn show(&self, m: Model) {
        if let Some(tx) = &self.tx {
            match tx.try_send(m) {
                Ok(()) | Err(TrySendError::Disconnected(_)) => {}
                Err(TrySendError::Full(_)) => log::debug!("live view: behind, an interval skipped"),
            }
        }
    }

    /// Ends the view, the terminal restored, before the report.
    pub fn close(mut self) {
        self.shut();
    }

    fn shut(&mut self) {
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        restore_terminal();
    }
}

/// Also on the way out through an error: the terminal is left as it was found.
impl Drop for View {
    fn drop(&mut self) {
        self.shut();
    }
}
