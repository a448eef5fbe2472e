//! Locks on what the whole node shares, held across test threads, test binaries and checkouts.

use std::{os::fd::AsRawFd as _, path::PathBuf};

/// An exclusive lock on something the whole node shares (the Docker engine and its container
/// names, SysV keys in the host's IPC namespace, fixed paths under /run), held until dropped.
/// It is an flock on a file under /run, so it serialises this binary's test threads and also
/// any other checkout's tests on this node; the kernel drops it if the test process dies.
pub struct NodeLock {
    _file: std::fs::File,
}

pub fn node_lock(resource: &str) -> NodeLock {
    lock(resource, libc::LOCK_EX)
}

/// Held by every ctrace a test starts: tracefs must stay mounted under it. The one test that
/// unmounts tracefs takes `node_lock("tracefs")`, which waits for every holder (in any
/// checkout) to finish.
pub fn tracefs_in_use() -> NodeLock {
    lock("tracefs", libc::LOCK_SH)
}

fn lock(resource: &str, how: i32) -> NodeLock {
    let dir = PathBuf::from("/run/ctrace-tests");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let path = dir.join(format!("{resource}.lock"));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    loop {
        if unsafe { libc::flock(file.as_raw_fd(), how) } == 0 {
            return NodeLock { _file: file };
        }
        let e = std::io::Error::last_os_error();
        assert_eq!(
            e.kind(),
            std::io::ErrorKind::Interrupted,
            "flock {}: {e}",
            path.display()
        );
    }
}
