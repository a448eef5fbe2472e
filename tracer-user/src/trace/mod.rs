//! `ctrace trace`: resolve filters, load and attach the chosen problems, feed the live view each
//! interval, and on q, Ctrl-C, SIGTERM or the end of --duration detach and print the report.

mod attached_line;
mod fill;
mod live_feed;
mod select;
mod session;

use std::{
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
};

use anyhow::Result;

pub use crate::stop::stop_flag;
use crate::{
    cli::{Sort, TraceArgs},
    live, outln, progress,
    report::text,
    say,
};
pub use session::Session;

/// Time-based work (the duty cycle, seccomp's attribution, zombie's look-ups) goes round this
/// often; records wake the loop as they come.
pub const TICK: Duration = Duration::from_millis(50);

/// The analysis loop's runtime (trace and serve): one thread, since the drains and signals run on
/// the drain stage's.
pub fn loop_rt() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// A tokio interval that, behind after slow work, goes on a whole period from now.
pub fn ticker(period: Duration) -> tokio::time::Interval {
    let mut t = tokio::time::interval(period);
    t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    t
}

/// When `--duration` ends, from `started`; none for a duration past what the clock holds
/// (`--duration 18446744073709551615s` runs until stopped, as no duration does).
pub fn deadline(started: Instant, duration: Option<Duration>) -> Option<tokio::time::Instant> {
    // A century: tokio's timer wheel and Instant both hold it; beyond it nobody waits anyway.
    const FOREVER: Duration = Duration::from_secs(100 * 365 * 86_400);
    let d = duration.filter(|d| *d < FOREVER)?;
    started.checked_add(d).map(tokio::time::Instant::from_std)
}

/// Resolves at `deadline`, or never.
pub async fn until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

pub fn run(args: TraceArgs, verbose: u8) -> Result<()> {
    if let Some(out) = &args.html {
        crate::input::check_writable(out, "--html")?;
    }
    let mut session = Session::open(&args, verbose)?;
    // Before the "attached" line: whoever waits for it may signal at once.
    let stop = stop_flag()?;
    say!("{}", session.attached_line());
    let view = live::View::start(
        live::kind(args.no_tui, verbose),
        Arc::clone(&stop),
        args.sort == Sort::Time,
    )?;
    let mut feed = live_feed::Feed::default();
    let started = session.started;
    let deadline = deadline(started, args.duration);
    loop_rt()?.block_on(async {
        let wake = std::sync::Arc::clone(&crate::drain::stage().wake);
        let mut tick = ticker(TICK);
        let mut show = ticker(args.interval);
        show.reset();
        while !stop.load(Ordering::Relaxed) {
            let shown = tokio::select! {
                _ = wake.notified() => false,
                _ = tick.tick() => false,
                _ = show.tick() => true,
                _ = until(deadline) => break,
            };
            session.tick(Instant::now())?;
            if shown {
                view.show(feed.model(&mut session, args.top)?);
            }
        }
        anyhow::Ok(())
    })?;
    view.close();
    if stop.load(Ordering::Relaxed) {
        say!("ctrace: detaching… (Ctrl-C again to exit without the report)");
    }
    // What follows the detach (seccomp's calibration) may take seconds: shown as it goes.
    progress::enable();
    let mut report = session.finish(args.top)?;
    report.keep_window(&mut feed.seen);
    // The page may fail (a disk filled during the trace): the report on stdout comes first.
    let page = crate::html::hook(args.html.as_deref(), args.top, || {
        Ok(serde_json::from_str(&report.to_json())?)
    });
    if args.json {
        outln!("{}", report.to_json())?;
    } else {
        // Cut to the width on a terminal only: a file or a pipe gets every line whole.
        crate::shared::cut_report_lines(std::io::IsTerminal::is_terminal(&std::io::stdout()));
        crate::out::stdout(&text::render(&report, args.top))?;
    }
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duration_past_the_clock_means_no_deadline() {
        let now = Instant::now();
        assert!(deadline(now, Some(Duration::from_secs(u64::MAX))).is_none());
        assert!(deadline(now, Some(Duration::MAX)).is_none());
        assert!(deadline(now, None).is_none());
        let d = deadline(now, Some(Duration::from_secs(10))).unwrap();
        assert_eq!(d.into_std(), now + Duration::from_secs(10));
    }
}
