//! Test helper for the zombie tests: a new pid namespace whose PID 1 reaps or never reaps, with
//! children that spawn grandchildren and exit, so that orphans die under PID 1.
//!
//! zombie-helper ns-tree reap|noreap N
//! Prints "ready <host pid of the namespace's PID 1>" once the tree has died, then waits.
//!
//! zombie-helper churn N SECS
//! A parent (`zombie-churn`) that keeps N zombies while it reaps the oldest and forks anew,
//! for SECS seconds, then reaps them all.
//!
//! zombie-helper parent reap|noreap N GAP_MS
//! A parent that is not PID 1 (`noreap-parent` or `reap-parent`): prints "ready <pid>", waits
//! for a line on stdin (the test may first move it into a cgroup), forks N children exiting
//! GAP_MS apart, prints "forked", then waits for stdin to close.

use std::{io::Write as _, time::Duration};

fn set_name(name: &str) {
    let c = std::ffi::CString::new(name).unwrap();
    unsafe { libc::prctl(libc::PR_SET_NAME, c.as_ptr()) };
}

/// PID 1 of the new namespace: N children, each forking a grandchild and exiting at once.
fn init(reap: bool, n: u32) -> ! {
    set_name(if reap { "reaping-init" } else { "noreap-init" });
    for _ in 0..n {
        match unsafe { libc::fork() } {
            0 => {
                if unsafe { libc::fork() } == 0 {
                    // The grandchild outlives its parent, is re-parented to PID 1 and dies there.
                    std::thread::sleep(Duration::from_millis(300));
                    unsafe { libc::_exit(0) };
                }
                unsafe { libc::_exit(0) };
            }
            pid => assert!(pid > 0, "fork"),
        }
    }
    loop {
        if reap {
            let r = unsafe { libc::waitpid(-1, std::ptr::null_mut(), 0) };
            if r < 0 {
                std::thread::sleep(Duration::from_millis(50));
            }
        } else {
            unsafe { libc::pause() };
        }
    }
}

fn churn(n: usize, secs: f64) {
    set_name("zombie-churn");
    let end = std::time::Instant::now() + Duration::from_secs_f64(secs);
    let mut pool = std::collections::VecDeque::new();
    while std::time::Instant::now() < end {
        if pool.len() >= n {
            let pid = pool.pop_front().unwrap();
            unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
        }
        match unsafe { libc::fork() } {
            0 => unsafe { libc::_exit(0) },
            pid => {
                assert!(pid > 0, "fork");
                pool.push_back(pid);
            }
        }
        std::thread::sleep(Duration::from_millis(3));
    }
    for pid in pool {
        unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
    }
}

/// Children exit `gap_ms` apart under a parent that waits for them or never does.
fn parent(reap: bool, n: u32, gap_ms: u64) {
    set_name(if reap { "reap-parent" } else { "noreap-parent" });
    println!("ready {}", std::process::id());
    std::io::stdout().flush().unwrap();
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    for _ in 0..n {
        match unsafe { libc::fork() } {
            0 => unsafe { libc::_exit(0) },
            pid => assert!(pid > 0, "fork"),
        }
        std::thread::sleep(Duration::from_millis(gap_ms));
        if reap {
            while unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) } > 0 {}
        }
    }
    // The last child may not have exited by the last WNOHANG (an emulated CPU takes longer
    // than the gap): a reaping parent waits for it, or it would be a real zombie.
    if reap {
        while unsafe { libc::waitpid(-1, std::ptr::null_mut(), 0) } > 0 {}
    }
    println!("forked");
    std::io::stdout().flush().unwrap();
    // Until the test closes stdin; the zombies go when this parent exits.
    let _ = std::io::stdin().read_line(&mut line);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() == 3 && args[0] == "churn" {
        churn(args[1].parse().expect("N"), args[2].parse().expect("SECS"));
        return;
    }
    if args.len() == 4 && args[0] == "parent" {
        parent(
            args[1] == "reap",
            args[2].parse().expect("N"),
            args[3].parse().expect("GAP_MS"),
        );
        return;
    }
    if args.len() != 3 || args[0] != "ns-tree" || !["reap", "noreap"].contains(&args[1].as_str()) {
        eprintln!("usage: zombie-helper ns-tree reap|noreap N");
        std::process::exit(2);
    }
    let reap = args[1] == "reap";
    let n: u32 = args[2].parse().expect("N");
    assert_eq!(
        unsafe { libc::unshare(libc::CLONE_NEWPID) },
        0,
        "unshare(CLONE_NEWPID)"
    );
    let init_pid = match unsafe { libc::fork() } {
        0 => init(reap, n),
        pid => pid,
    };
    std::thread::sleep(Duration::from_millis(800));
    println!("ready {init_pid}");
    std::io::stdout().flush().unwrap();
    let mut status = 0;
    unsafe { libc::waitpid(init_pid, &mut status, 0) };
}
