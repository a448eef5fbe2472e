//! One twin of the seccomp cost oracle: a getppid loop on one CPU, under a filter or none, that
//! times itself. `seccomp-twin FILTER CPU SECONDS`; FILTER is `none`, `allow` (one instruction,
//! which the kernel's action cache skips), `args` (loads args[0], then 200 comparisons: the
//! filter runs on every call) or `stacked` (`allow` and `args`, two filters). It prints `ready`
//! once the filter is in, then every 10 ms until SECONDS one JSON line of running totals:
//! calls, its own CPU time (the thread's clock) and the wall time, from which the oracle takes
//! ns per call and the rate over any window it picks.

use std::time::Instant;

use tests::filters::{allow_all, install, with_args};

fn pin(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET and sched_setaffinity only
    // touch that local set.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        assert_eq!(
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set),
            0,
            "pinning to CPU {cpu}: {}",
            std::io::Error::last_os_error()
        );
    }
}

fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the one timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "seccomp-twin none|allow|args|stacked CPU SECONDS";
    let (Some(filter), Some(cpu), Some(secs)) = (args.get(1), args.get(2), args.get(3)) else {
        panic!("{usage}");
    };
    let cpu: usize = cpu.parse().expect(usage);
    let secs: f64 = secs.parse().expect(usage);
    pin(cpu);
    match filter.as_str() {
        "none" => {}
        "allow" => install(&allow_all()),
        "args" => install(&with_args(200)),
        "stacked" => {
            install(&allow_all());
            install(&with_args(200));
        }
        other => panic!("unknown filter {other}: {usage}"),
    }
    println!("ready");
    let wall = Instant::now();
    let cpu0 = thread_cpu_ns();
    let mut calls: u64 = 0;
    let mut next_line = 0.01;
    loop {
        for _ in 0..1000 {
            // SAFETY: getppid takes no arguments and cannot fail.
            unsafe { libc::syscall(libc::SYS_getppid) };
        }
        calls += 1000;
        let at = wall.elapsed().as_secs_f64();
        if at >= next_line {
            println!(
                "{{\"calls\":{calls},\"cpu_ns\":{},\"wall_ns\":{}}}",
                thread_cpu_ns() - cpu0,
                wall.elapsed().as_nanos()
            );
            next_line += 0.01;
        }
        if at >= secs {
            break;
        }
    }
}
