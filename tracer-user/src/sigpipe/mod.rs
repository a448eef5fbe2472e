//! sigpipe: SIGPIPE delivered to dockerd and other daemons — who wrote to what, and whether it
//! was fatal. Probes: the write-like syscalls (through the syscall dispatcher),
//! signal_generate/signal_deliver, sched_process_exit/exec; fds are described from /proc and
//! sock_diag.

pub mod analyzer;
pub mod doctor;
pub mod entry;
pub mod explain;
pub mod fds;
pub mod kernel;
pub mod run;
pub mod serve;
pub mod signal;
pub mod text;

/// Daemons watched by default (comm as the kernel shows it); --comm adds others.
const WATCHED: [&str; 4] = ["dockerd", "containerd", "runc", "kubelet"];

pub fn is_watched_comm(comm: &str, extra: &[String]) -> bool {
    WATCHED.contains(&comm)
        || comm.starts_with("containerd-shim")
        || extra.iter().any(|c| c == comm)
}

/// A journald client: its stdout or stderr is connected to journald's stdout socket.
pub fn is_journald_stream(info: &fds::FdInfo) -> bool {
    info.peer
        .as_deref()
        .is_some_and(|p| p.starts_with("/run/systemd/journal/stdout"))
}
