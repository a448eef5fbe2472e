//! sem: SysV semaphore set leaks (devicemapper udev cookies) and SEMMNI headroom.
//! Probes: the semget/semctl/semop syscall tracepoints; inventory: /proc/sysvipc/sem per IPC
//! namespace; the analysis lives in `analyzer`, the text in `explain`.

pub mod analyzer;
pub mod doctor;
pub mod entry;
pub mod explain;
pub mod inventory;
pub mod run;
pub mod section;
pub mod serve;
pub mod text;

/// (program, syscalls tracepoint): classic tracepoints that fire on these syscalls only.
pub const PROGRAMS: [(&str, &str); 6] = [
    ("sem_get_enter", "sys_enter_semget"),
    ("sem_get_exit", "sys_exit_semget"),
    ("sem_ctl_enter", "sys_enter_semctl"),
    ("sem_ctl_exit", "sys_exit_semctl"),
    ("sem_op_enter", "sys_enter_semop"),
    ("sem_timedop_enter", "sys_enter_semtimedop"),
];
