//! Stopping on SIGINT and SIGTERM (trace and serve): the first asks for a clean stop (detach,
//! then the report), a second one exits at once with 130 and no report.

use std::sync::{
    Arc, OnceLock,
    atomic::{AtomicBool, Ordering},
};

use anyhow::Result;
use tokio::signal::unix::{SignalKind, signal};

use crate::{drain, say};

/// The flag the main loop checks; set by the first signal, which also wakes the loop. The
/// signals are tokio's, on the drain stage's runtime, so a busy main loop still sees the second.
pub fn stop_flag() -> Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    let stage = drain::stage();
    let (mut int, mut term) = {
        let _enter = stage.runtime.enter();
        (
            signal(SignalKind::interrupt())?,
            signal(SignalKind::terminate())?,
        )
    };
    let flag = Arc::clone(&stop);
    let wake = Arc::clone(&stage.wake);
    stage.runtime.spawn(async move {
        loop {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            if flag.swap(true, Ordering::SeqCst) {
                exit_now();
            }
            wake.notify_one();
        }
    });
    Ok(stop)
}

/// Run by `exit_now` before it exits: the live view registers how to give the terminal back,
/// so that this module needs nothing of it.
static BEFORE_EXIT: OnceLock<fn()> = OnceLock::new();

pub fn before_exit(f: fn()) {
    let _ = BEFORE_EXIT.set(f);
}

/// The second stop (a signal, or Ctrl-C in the live view's raw mode): the terminal as it was,
/// then exit 130 at once, without the report.
pub fn exit_now() -> ! {
    if let Some(f) = BEFORE_EXIT.get() {
        f();
    }
    say!("ctrace: stopped without the report");
    // The probes are bpf links and perf events held by ctrace's fds: the kernel detaches them
    // as the process ends. Classic tracepoints cost it a grace period each, under one kernel
    // mutex, so exiting is as fast as ctrace's event path has few of them.
    unsafe { libc::_exit(130) }
}
