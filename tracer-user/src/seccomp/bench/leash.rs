//! `bench seccomp`'s children (the workload child, the user's `-- CMD`) die with it: each runs in
//! its own process group, which SIGINT or SIGTERM of ctrace kills whole, and with
//! PR_SET_PDEATHSIG, so that even a SIGKILL of ctrace takes the direct child along. An
//! interrupted run once left a workload spinning at half a CPU and the user's command running.

use std::{
    os::unix::process::CommandExt as _,
    process::{Child, Command},
    sync::{
        Arc, OnceLock,
        atomic::{AtomicBool, AtomicI32, Ordering},
    },
};

use anyhow::{Result, bail};
use signal_hook::{
    consts::{SIGINT, SIGTERM},
    iterator::Signals,
};

/// The process group of the child running now (0: none), and whether a signal came.
struct Leash {
    group: AtomicI32,
    stopped: AtomicBool,
}

/// Installed on first use: from then on SIGINT and SIGTERM stop the bench instead of ending
/// ctrace at once, and kill the running child's group.
fn leash() -> &'static Arc<Leash> {
    static LEASH: OnceLock<Arc<Leash>> = OnceLock::new();
    LEASH.get_or_init(|| {
        let l = Arc::new(Leash {
            group: AtomicI32::new(0),
            stopped: AtomicBool::new(false),
        });
        match Signals::new([SIGINT, SIGTERM]) {
            Ok(mut signals) => {
                let on = Arc::clone(&l);
                std::thread::spawn(move || {
                    for _ in signals.forever() {
                        on.stopped.store(true, Ordering::SeqCst);
                        kill_group(on.group.load(Ordering::SeqCst));
                    }
                });
            }
            Err(e) => log::warn!("bench seccomp: cannot catch SIGINT/SIGTERM: {e}"),
        }
        l
    })
}

fn kill_group(group: i32) {
    if group > 0 {
        // SAFETY: kill(2) with a negative pid signals a process group; no memory is passed.
        unsafe { libc::kill(-group, libc::SIGKILL) };
    }
}

/// Starts `cmd` on the leash (its own process group, SIGKILL when ctrace dies), runs `wait`
/// on it, and fails with "interrupted" if a signal came meanwhile.
pub(super) fn run<T>(cmd: &mut Command, wait: impl FnOnce(Child) -> Result<T>) -> Result<T> {
    let l = leash();
    interrupted(l)?;
    cmd.process_group(0);
    // SAFETY: the closure runs in the child between fork and exec and only calls prctl(2),
    // which is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn()?;
    let group = child.id() as i32;
    l.group.store(group, Ordering::SeqCst);
    // A signal between spawn and the store above found no group to kill.
    if l.stopped.load(Ordering::SeqCst) {
        kill_group(group);
    }
    let out = wait(child);
    l.group.store(0, Ordering::SeqCst);
    // The group may hold what the command started (`sh -c 'a & b'`): none of it outlives a stop.
    interrupted(l).inspect_err(|_| kill_group(group))?;
    out
}

fn interrupted(l: &Leash) -> Result<()> {
    if l.stopped.load(Ordering::SeqCst) {
        bail!("interrupted: the workload and your command were stopped");
    }
    Ok(())
}
