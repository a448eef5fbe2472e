//! Syscalls by number: which problems want each call, and where a call's number and arguments
//! sit in the saved user registers. The numbers and register layout come from one table per
//! architecture; no probe file holds a syscall number.

#[cfg(any(target_arch = "x86_64", bpf_target_arch = "x86_64"))]
mod x86_64;
#[cfg(any(target_arch = "x86_64", bpf_target_arch = "x86_64"))]
pub use x86_64::*;

#[cfg(not(any(target_arch = "x86_64", bpf_target_arch = "x86_64")))]
compile_error!(
    "ctrace has no syscall table for this architecture yet: add tracer-common/src/syscalls/<arch>.rs (numbers and pt_regs offsets) like x86_64.rs"
);

/// Load-time global: the `want` bits of the problems asked.
pub const WANT: &str = "SYSCALL_WANT";
/// Load-time global: seccomp's mode (`SECCOMP_LATENCY` or `SECCOMP_COUNT`).
pub const SECCOMP_MODE: &str = "SECCOMP_MODE";
pub const SECCOMP_LATENCY: u32 = 0;
pub const SECCOMP_COUNT: u32 = 1;

/// Load-time global: slots of the tid-hashed in-flight arrays, minus one (a power of two).
pub const INFLIGHT_MASK: &str = "INFLIGHT_MASK";
/// At most this many in-flight slots (16 bytes each for seccomp, 24 for sigpipe): beyond it,
/// threads whose ids share the low 16 bits share a slot, and a clash is counted as a drop.
pub const MAX_INFLIGHT_SLOTS: u32 = 65536;

/// Bits of the interest table and of `WANT`: which problem wants a call.
pub mod want {
    /// Every syscall (the latency histograms or counts).
    pub const SECCOMP: u8 = 1;
    pub const SEM: u8 = 2;
    pub const SIGPIPE: u8 = 4;
    pub const OVERLAY: u8 = 8;
    pub const ALL: u8 = SECCOMP | SEM | SIGPIPE | OVERLAY;
}

/// Entries in the interest table; numbers at or beyond it interest seccomp only.
pub const TABLE_LEN: usize = 512;

/// The calls of each problem other than seccomp (which wants them all).
pub const SEM_CALLS: [u32; 4] = [nr::SEMGET, nr::SEMCTL, nr::SEMOP, nr::SEMTIMEDOP];
/// Calls whose failure on a closed pipe or socket raises SIGPIPE.
pub const SIGPIPE_CALLS: [u32; 6] = [
    nr::WRITE,
    nr::WRITEV,
    nr::PWRITE64,
    nr::PWRITEV,
    nr::SENDTO,
    nr::SENDMSG,
];
/// Calls that can copy a lower file up, renames, and mmap.
pub const OVERLAY_CALLS: [u32; 32] = [
    nr::OPEN,
    nr::OPENAT,
    nr::OPENAT2,
    nr::CREAT,
    nr::TRUNCATE,
    nr::CHMOD,
    nr::FCHMODAT,
    nr::FCHMODAT2,
    nr::CHOWN,
    nr::LCHOWN,
    nr::FCHOWNAT,
    nr::SETXATTR,
    nr::LSETXATTR,
    nr::LINK,
    nr::LINKAT,
    nr::RENAME,
    nr::RENAMEAT,
    nr::RENAMEAT2,
    nr::FTRUNCATE,
    nr::FCHMOD,
    nr::FCHOWN,
    nr::FSETXATTR,
    nr::REMOVEXATTR,
    nr::LREMOVEXATTR,
    nr::FREMOVEXATTR,
    nr::SETXATTRAT,
    nr::REMOVEXATTRAT,
    nr::UTIME,
    nr::UTIMES,
    nr::FUTIMESAT,
    nr::UTIMENSAT,
    // MAP_SHARED mappings of overlay files, which a copy-up leaves stale.
    nr::MMAP,
];

const fn mark(mut t: [u8; TABLE_LEN], calls: &[u32], bit: u8) -> [u8; TABLE_LEN] {
    let mut i = 0;
    while i < calls.len() {
        t[calls[i] as usize] |= bit;
        i += 1;
    }
    t
}

/// Indexed by syscall number: the `want` bits of the problems that handle it. Built at
/// compile time; the probes read it with one load from .rodata before anything else.
pub const INTEREST: [u8; TABLE_LEN] = {
    let t = [want::SECCOMP; TABLE_LEN];
    let t = mark(t, &SEM_CALLS, want::SEM);
    let t = mark(t, &SIGPIPE_CALLS, want::SIGPIPE);
    mark(t, &OVERLAY_CALLS, want::OVERLAY)
};

/// The interest of a syscall number (negative or beyond the table: seccomp's only).
#[inline(always)]
pub fn interest(nr: i64) -> u8 {
    if nr < 0 || nr >= TABLE_LEN as i64 {
        return want::SECCOMP;
    }
    INTEREST[nr as usize]
}

#[cfg(test)]
mod tests;
