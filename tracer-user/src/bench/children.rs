//! The bench's children die with it, and Ctrl-C or SIGTERM stop the run cleanly: an
//! interrupted run once left its bpftrace child attached to raw_syscalls for 35 minutes,
//! slowing every syscall on the node.

use std::{
    os::unix::process::CommandExt as _,
    process::Command,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

/// SIGKILL the child when ctrace dies, however it dies (PR_SET_PDEATHSIG).
pub fn die_with_parent(cmd: &mut Command) -> &mut Command {
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    }
}

/// Set by SIGINT or SIGTERM; the bench checks it between measurements, then stops its
/// children and detaches (dropping the loaded objects).
pub fn stop_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(sig, Arc::clone(&flag)) {
            log::warn!("bench: cannot catch signal {sig}: {e}");
        }
    }
    flag
}

pub fn stopped(flag: &AtomicBool) -> bool {
    flag.load(Ordering::Relaxed)
}
