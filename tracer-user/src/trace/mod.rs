//! `ctrace trace`: resolve filters, load and attach the chosen problems, print a live line each
//! interval, and on Ctrl-C, SIGTERM or the end of --duration detach and print the report.

pub mod meta;
mod select;
mod session;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::Result;

use crate::{cli::TraceArgs, report::text};
pub use session::Session;

const TICK: Duration = Duration::from_millis(50);

pub fn stop_flag() -> Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))?;
    }
    Ok(stop)
}

pub fn run(args: TraceArgs, verbose: u8) -> Result<()> {
    let mut session = Session::open(&args, verbose)?;
    // Before the "attached" line: whoever waits for it may signal at once.
    let stop = stop_flag()?;
    eprintln!("ctrace: attached {}; Ctrl-C to stop", session.attached());
    let started = session.started;
    let mut next_line = Instant::now() + args.interval;
    while !stop.load(Ordering::Relaxed) && args.duration.is_none_or(|d| started.elapsed() < d) {
        std::thread::sleep(TICK);
        let now = Instant::now();
        session.tick(now)?;
        if now >= next_line {
            next_line += args.interval;
            session.refresh(true)?;
            let line = session.live();
            eprintln!("[{:>7.1}s] {line}", started.elapsed().as_secs_f64());
        }
    }
    let report = session.finish(args.top)?;
    if args.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", text::render(&report, args.top));
    }
    Ok(())
}
