//! Progress on long operations (`bench seccomp`, the seccomp calibration after `trace`): a bar
//! with an ETA on stderr where stderr is a terminal, a one-line start notice where it is not.
//! Off until a command turns it on, so that `serve`, and `trace` while its live view owns the
//! screen, stay quiet.

use std::{
    io::IsTerminal as _,
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::say;

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Bars (or notices) from here on.
pub fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
}

/// A bar of `len` steps for `what` ("calibrating pid 42's filter"); `notice` is the line
/// printed instead where stderr is not a terminal. Hidden while progress is off.
pub fn bar(len: u64, what: &str, notice: &str) -> ProgressBar {
    if !ENABLED.load(Ordering::Relaxed) {
        return ProgressBar::hidden();
    }
    if !std::io::stderr().is_terminal() {
        say!("ctrace: {notice}");
        return ProgressBar::hidden();
    }
    let style = ProgressStyle::with_template("{msg} [{wide_bar}] {pos}/{len} {elapsed} ETA {eta}")
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    let b = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr())
        .with_style(style)
        .with_message(what.to_string());
    // Drawn at once and kept moving while one step takes long.
    b.enable_steady_tick(Duration::from_millis(250));
    b
}
