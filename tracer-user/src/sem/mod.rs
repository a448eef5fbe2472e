//! sem: SysV semaphore set leaks (devicemapper udev cookies) and SEMMNI headroom.
//! Probes: semget/semctl/semop through the syscall dispatcher; inventory: /proc/sysvipc/sem per
//! IPC namespace; the analysis lives in `analyzer`, the text in `explain`.

pub mod analyzer;
pub mod doctor;
pub mod entry;
pub mod explain;
pub mod inventory;
pub mod run;
pub mod section;
pub mod serve;
pub mod text;
