//! Test helper for the zombie tests: a new pid namespace whose PID 1 reaps or never reaps, with
//! children that spawn grandchildren and exit, so that orphans die under PID 1.
//!
//! zombie-helper ns-tree reap|noreap N
//! Prints "ready <host pid of the namespace's PID 1>" once the tree has died, then waits.

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

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
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
