//! Syscall classes: a fixed, small label set for per-container metrics, where one label per
//! syscall number would multiply the series a fleet's Prometheus has to keep.

use super::analyzer::syscall_name;

#[cfg(test)]
pub const CLASSES: [&str; 8] = [
    "file", "network", "process", "memory", "ipc", "signal", "time", "other",
];

/// The class of a syscall number on this architecture.
pub fn class_of(nr: u32) -> &'static str {
    classify(&syscall_name(nr))
}

fn classify(name: &str) -> &'static str {
    const NETWORK: &[&str] = &[
        "socket",
        "connect",
        "accept",
        "bind",
        "listen",
        "send",
        "recv",
        "shutdown",
        "getsockopt",
        "setsockopt",
        "getsockname",
        "getpeername",
        "socketpair",
    ];
    const TIME: &[&str] = &[
        "nanosleep",
        "clock_",
        "gettimeofday",
        "settimeofday",
        "time",
        "timer",
        "alarm",
        "getitimer",
        "setitimer",
        "adjtimex",
    ];
    const SIGNAL: &[&str] = &["rt_sig", "sigaltstack", "kill", "tkill", "tgkill", "pause"];
    const IPC: &[&str] = &["sem", "msg", "shm", "mq_", "futex", "pipe", "eventfd"];
    const MEMORY: &[&str] = &[
        "mmap",
        "munmap",
        "mprotect",
        "mremap",
        "madvise",
        "brk",
        "mlock",
        "munlock",
        "msync",
        "mincore",
        "membarrier",
        "pkey_",
    ];
    const PROCESS: &[&str] = &[
        "clone",
        "fork",
        "vfork",
        "execve",
        "exit",
        "wait",
        "getpid",
        "getppid",
        "gettid",
        "getpgid",
        "setpgid",
        "getsid",
        "setsid",
        "getuid",
        "geteuid",
        "getgid",
        "getegid",
        "setuid",
        "setgid",
        "setre",
        "setres",
        "getres",
        "prctl",
        "arch_prctl",
        "sched_",
        "setns",
        "unshare",
        "prlimit",
        "getrlimit",
        "setrlimit",
        "getrusage",
        "ptrace",
        "capget",
        "capset",
        "seccomp",
        "set_tid_address",
        "set_robust_list",
        "rseq",
        "pidfd",
    ];
    let any = |list: &[&str]| list.iter().any(|p| name.starts_with(p));
    // Order matters where prefixes overlap ("timerfd" is time, "shmat" is ipc).
    if any(NETWORK) {
        "network"
    } else if any(SIGNAL) {
        "signal"
    } else if any(IPC) {
        "ipc"
    } else if any(MEMORY) {
        "memory"
    } else if any(TIME) {
        "time"
    } else if any(PROCESS) {
        "process"
    } else if name.starts_with("syscall_") {
        "other"
    } else {
        // Everything else on a container host is overwhelmingly files and fds.
        "file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_syscalls_fall_in_their_class() {
        for (name, class) in [
            ("read", "file"),
            ("openat", "file"),
            ("epoll_wait", "file"),
            ("sendto", "network"),
            ("recvmsg", "network"),
            ("getpgid", "process"),
            ("clone3", "process"),
            ("mmap", "memory"),
            ("futex", "ipc"),
            ("semop", "ipc"),
            ("rt_sigreturn", "signal"),
            ("clock_nanosleep", "time"),
            ("timerfd_create", "time"),
            ("syscall_999", "other"),
        ] {
            assert_eq!(classify(name), class, "{name}");
        }
    }

    #[test]
    fn every_class_is_a_declared_label() {
        for nr in 0..500 {
            assert!(CLASSES.contains(&class_of(nr)));
        }
    }
}
