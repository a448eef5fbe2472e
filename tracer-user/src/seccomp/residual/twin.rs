//! `ctrace __seccomp-twin allow|none`: one twin of the residual's calibration. A getppid loop
//! on the last CPU, under an allow-all filter or none, until its stdin closes, printing its
//! calls and its own CPU time (the thread's clock) as running totals every 10 ms.

use std::{
    io::Read as _,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Result, bail};

/// How often the running totals are printed: the parent takes the window's from them.
const EVERY: Duration = Duration::from_millis(10);

/// `RET ALLOW`: one instruction, so the kernel's action cache skips the program (5.11+) and
/// what is measured is the slow path every filter costs.
const ALLOW_ALL: [u8; 8] = [0x06, 0, 0, 0, 0, 0, 0xff, 0x7f];

fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the one timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

pub fn run(filter: &str) -> Result<()> {
    crate::cpu_pin::pin_to_last_cpu();
    // Before the filter: the thread that watches stdin is then outside it, and its reads
    // are not the loop's.
    let done = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&done);
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
        flag.store(true, Ordering::Relaxed);
    });
    match filter {
        // A filter covers only the thread that installs it (no TSYNC): the loop's.
        "allow" => super::super::filter::install(&ALLOW_ALL)?,
        "none" => {}
        other => bail!("__seccomp-twin: unknown filter {other} (allow or none)"),
    }
    println!("ready");
    let cpu0 = thread_cpu_ns();
    let start = Instant::now();
    let mut next = EVERY;
    let mut calls: u64 = 0;
    while !done.load(Ordering::Relaxed) {
        for _ in 0..1000 {
            // SAFETY: getppid takes no arguments and cannot fail.
            unsafe { libc::syscall(libc::SYS_getppid) };
        }
        calls += 1000;
        if start.elapsed() >= next {
            println!(
                "{{\"calls\":{calls},\"cpu_ns\":{}}}",
                thread_cpu_ns() - cpu0
            );
            next += EVERY;
        }
    }
    Ok(())
}
