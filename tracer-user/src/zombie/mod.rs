//! zombie: zombies accumulating under a parent that does not reap (a PID 1 or any other), and a
//! PID 1 whose SIGTERM the kernel drops. Probes: sched_process_exit and sched_process_free, and
//! the signal_generate raw tracepoint; the zombies' parents come from /proc.

pub mod analyzer;
pub mod doctor;
pub mod entry;
pub mod explain;
pub mod init_signal;
pub mod procfs;
pub mod run;
pub mod section;
pub mod serve;
pub mod text;

/// (program, sched tracepoint).
pub const PROGRAMS: [(&str, &str); 2] = [
    ("zombie_exit", "sched_process_exit"),
    ("zombie_free", "sched_process_free"),
];

/// Inits that reap orphans (comm as the kernel shows it, at most 15 bytes).
const KNOWN_INITS: [&str; 17] = [
    "tini",
    "tini-static",
    "docker-init",
    "dumb-init",
    "catatonit",
    "s6-svscan",
    "systemd",
    "runit",
    "runit-init",
    "runsvdir",
    "init",
    "openrc-init",
    "pause",
    "my_init",
    "supervisord",
    "sinit",
    "podman-init",
];

pub fn is_known_init(comm: &str) -> bool {
    KNOWN_INITS.contains(&comm)
}
