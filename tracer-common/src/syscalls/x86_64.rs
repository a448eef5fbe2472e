//! x86_64: syscall numbers (arch/x86/entry/syscalls/syscall_64.tbl) and `struct pt_regs`.

/// Syscall numbers of the calls a problem handles.
pub mod nr {
    pub const WRITE: u32 = 1;
    pub const OPEN: u32 = 2;
    pub const MMAP: u32 = 9;
    pub const PWRITE64: u32 = 18;
    pub const WRITEV: u32 = 20;
    pub const SENDTO: u32 = 44;
    pub const SENDMSG: u32 = 46;
    pub const SEMGET: u32 = 64;
    pub const SEMOP: u32 = 65;
    pub const SEMCTL: u32 = 66;
    pub const TRUNCATE: u32 = 76;
    pub const FTRUNCATE: u32 = 77;
    pub const RENAME: u32 = 82;
    pub const CREAT: u32 = 85;
    pub const LINK: u32 = 86;
    pub const CHMOD: u32 = 90;
    pub const FCHMOD: u32 = 91;
    pub const CHOWN: u32 = 92;
    pub const FCHOWN: u32 = 93;
    pub const LCHOWN: u32 = 94;
    pub const UTIME: u32 = 132;
    pub const SETXATTR: u32 = 188;
    pub const LSETXATTR: u32 = 189;
    pub const FSETXATTR: u32 = 190;
    pub const REMOVEXATTR: u32 = 197;
    pub const LREMOVEXATTR: u32 = 198;
    pub const FREMOVEXATTR: u32 = 199;
    pub const SEMTIMEDOP: u32 = 220;
    pub const UTIMES: u32 = 235;
    pub const OPENAT: u32 = 257;
    pub const FCHOWNAT: u32 = 260;
    pub const FUTIMESAT: u32 = 261;
    pub const RENAMEAT: u32 = 264;
    pub const LINKAT: u32 = 265;
    pub const FCHMODAT: u32 = 268;
    pub const UTIMENSAT: u32 = 280;
    pub const PWRITEV: u32 = 296;
    pub const RENAMEAT2: u32 = 316;
    pub const OPENAT2: u32 = 437;
    pub const FCHMODAT2: u32 = 452;
    pub const SETXATTRAT: u32 = 463;
    pub const REMOVEXATTRAT: u32 = 466;
}

/// `struct pt_regs`: the syscall number as entered (`orig_ax`).
pub const REGS_NR_OFFSET: usize = 120;
/// The six arguments (di, si, dx, r10, r8, r9) lie within this span of `struct pt_regs`,
/// so one read takes them all.
pub const REGS_ARGS_SPAN: (usize, usize) = (56, 64);
/// Offset of each argument within that span.
pub const REGS_ARG_INDEX: [usize; 6] = [7, 6, 5, 0, 2, 1];
