//! `ctrace trace`: resolve filters, load and attach the chosen problems, print a live line each
//! interval, and on Ctrl-C, SIGTERM or the end of --duration detach and print the report.

pub mod meta;
mod select;
mod session;
mod stop;

use std::{
    sync::atomic::Ordering,
    time::{Duration, Instant},
};

use anyhow::Result;

use crate::{cli::TraceArgs, outln, report::text, say};
pub use session::Session;
pub use stop::stop_flag;

const TICK: Duration = Duration::from_millis(50);

pub fn run(args: TraceArgs, verbose: u8) -> Result<()> {
    let mut session = Session::open(&args, verbose)?;
    // Before the "attached" line: whoever waits for it may signal at once.
    let stop = stop_flag()?;
    say!("ctrace: attached {}; Ctrl-C to stop", session.attached());
    let started = session.started;
    let mut next_line = Instant::now() + args.interval;
    while !stop.load(Ordering::Relaxed) && args.duration.is_none_or(|d| started.elapsed() < d) {
        std::thread::sleep(TICK);
        let now = Instant::now();
        session.tick(now)?;
        if now >= next_line {
            next_line += args.interval;
            session.refresh(true)?;
            let line = format!("{} | {}", session.live(), session.kernel_cost());
            say!("[{:>7.1}s] {line}", started.elapsed().as_secs_f64());
        }
    }
    if stop.load(Ordering::Relaxed) {
        say!("ctrace: detaching… (Ctrl-C again to exit without the report)");
    }
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
