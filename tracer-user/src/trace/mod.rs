//! `ctrace trace`: resolve filters, load and attach the chosen problems, feed the live view each
//! interval, and on q, Ctrl-C, SIGTERM or the end of --duration detach and print the report.

pub mod meta;
mod select;
mod session;

use std::{
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
};

use anyhow::Result;

pub use crate::stop::stop_flag;
use crate::{cli::TraceArgs, live, outln, progress, report::text, say, seccomp::section::Sort};
pub use session::Session;

const TICK: Duration = Duration::from_millis(50);

pub fn run(args: TraceArgs, verbose: u8) -> Result<()> {
    let mut session = Session::open(&args, verbose)?;
    // Before the "attached" line: whoever waits for it may signal at once.
    let stop = stop_flag()?;
    say!("ctrace: attached {}; Ctrl-C to stop", session.attached());
    let view = live::View::start(
        live::kind(args.no_tui, verbose),
        Arc::clone(&stop),
        args.sort == Sort::Time,
    )?;
    let mut feed = live::Feed::default();
    let started = session.started;
    let mut next_view = Instant::now() + args.interval;
    while !stop.load(Ordering::Relaxed) && args.duration.is_none_or(|d| started.elapsed() < d) {
        std::thread::sleep(TICK);
        let now = Instant::now();
        session.tick(now)?;
        if now >= next_view {
            next_view += args.interval;
            view.show(feed.model(&mut session, args.top)?);
            // Behind after a slow interval: the next one a whole interval from now.
            let now = Instant::now();
            if next_view < now {
                next_view = now + args.interval;
            }
        }
    }
    view.close();
    if stop.load(Ordering::Relaxed) {
        say!("ctrace: detaching… (Ctrl-C again to exit without the report)");
    }
    // What follows the detach (seccomp's calibration) may take seconds: shown as it goes.
    progress::enable();
    let report = session.finish(args.top)?;
    crate::html::hook(args.html.as_deref(), args.top, || {
        Ok(serde_json::from_str(&report.to_json())?)
    })?;
    if args.json {
        outln!("{}", report.to_json())
    } else {
        crate::out::stdout(&text::render(&report, args.top))
    }
}
