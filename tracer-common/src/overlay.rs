//! overlay: the syscalls that can copy a lower-layer file up, and renames that may fail with EXDEV.

pub const EVENTS: &str = "OVERLAY_EVENTS";
/// The kernel tier: tid -> entry time of the copy-up function in flight.
pub const COPY_UP_START: &str = "OVERLAY_CU_START";
/// The kernel tier, per CPU: [copy-ups outside any traced call, their ns].
pub const COPY_UP_MISSED: &str = "OVERLAY_CU_MISSED";
/// One call per file or directory really copied up (ancestors first).
pub const COPY_UP_FN: &str = "ovl_copy_up_one";
pub const PATH_LEN: usize = 256;
pub const EXDEV: i64 = 18;
/// dfd meaning "relative to the current directory".
pub const AT_FDCWD: i32 = -100;
pub const ENOSPC: i64 = 28;
pub const EDQUOT: i64 = 122;
pub const OVERLAYFS_MAGIC: u64 = 0x794c_7630;

/// A directory or file named in the kernel by walking its dentries up to the task's root
/// (crossing mounts): the names leaf first, each ending in NUL.
pub const WALK_LEN: usize = 512;
/// Longest name the walk copies (NAME_MAX and its NUL).
pub const WALK_NAME: usize = 256;
/// Dentries walked at most.
pub const WALK_DEPTH: usize = 24;

/// The load-time global of kernel struct offsets the probes read (from the kernel's BTF).
pub const OFFSETS: &str = "OVERLAY_OFFSETS";
/// Indexes into `OFFSETS`: (struct, member) as user space looks them up.
pub mod off {
    pub const TASK_FS: usize = 0;
    pub const TASK_FILES: usize = 1;
    pub const FS_ROOT: usize = 2;
    pub const FS_PWD: usize = 3;
    pub const PATH_MNT: usize = 4;
    pub const PATH_DENTRY: usize = 5;
    pub const FILES_FDT: usize = 6;
    pub const FDT_MAX_FDS: usize = 7;
    pub const FDT_FD: usize = 8;
    pub const FILE_PATH: usize = 9;
    pub const FILE_INODE: usize = 10;
    pub const INODE_SB: usize = 11;
    pub const INODE_INO: usize = 12;
    pub const INODE_SIZE: usize = 13;
    pub const INODE_NLINK: usize = 14;
    pub const SB_MAGIC: usize = 15;
    pub const SB_DEV: usize = 16;
    pub const DENTRY_PARENT: usize = 17;
    pub const DENTRY_NAME: usize = 18;
    pub const QSTR_NAME: usize = 19;
    pub const VFSMOUNT_ROOT: usize = 20;
    pub const MOUNT_MNT: usize = 21;
    pub const MOUNT_PARENT: usize = 22;
    pub const MOUNT_MOUNTPOINT: usize = 23;
    pub const VFSMOUNT_SB: usize = 24;
    /// Non-zero when user space filled the others: the probes walk nothing otherwise.
    pub const VALID: usize = 25;
    pub const COUNT: usize = 26;
}

/// `OverlayEvent::how` bits.
pub mod how {
    /// `base` holds the walk of the dfd (or the cwd) the first path is relative to.
    pub const BASE: u32 = 1;
    /// `base` holds the walk for the second path (the first is absolute).
    pub const BASE2: u32 = 2;
    /// `magic`, `dev`, `ino`, `nlink` and `size` describe the file of the call's fd.
    pub const FILE: u32 = 4;
    /// A walk stopped before the root (too deep or too long): the path is not whole.
    pub const CUT: u32 = 8;
}

/// The load-time global of dentries the walk program walks per run, and its default.
pub const WALK_STEPS: &str = "OVERLAY_WALK_STEPS";
pub const WALK_STEPS_DEFAULT: u32 = 4;
/// The load-time switch to the walk in one run with its state in registers, which 6.1's and
/// 5.10's verifiers refuse (`CTRACE_OVERLAY_WALK_WHOLE=1`): how doctor's refusal is shown.
pub const WALK_WHOLE: &str = "OVERLAY_WALK_WHOLE";

/// The program array holding the dentry walk program the dispatcher tail-calls.
pub const WALK_PROGRAMS: &str = "OVERLAY_WALK";

/// Shared mappings of overlay files: (file, process) -> since when.
pub const SHARED_MAPS: &str = "OVERLAY_SHARED";

/// An overlay file (the overlay's device and inode number) mapped MAP_SHARED by a process.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MapKey {
    pub ino: u64,
    pub dev: u32,
    pub tgid: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SharedMap {
    pub since_ns: u64,
    pub comm: [u8; crate::COMM_LEN],
}

/// One traced call, copied out at its exit.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct OverlayEvent {
    /// The task running when the kernel took the event (see `crate::Origin`).
    pub origin: crate::Origin,
    pub enter_ns: u64,
    pub exit_ns: u64,
    pub ret: i64,
    pub flags: u64,
    /// Kernel tier: time in the copy-up function during this call (0 in the tracepoint tier).
    pub copy_up_ns: u64,
    /// Kernel tier: copy-ups during this call (the file, and ancestors not yet copied up).
    pub copy_ups: u32,
    pub nr: i32,
    pub dfd: i32,
    pub dfd2: i32,
    pub path: [u8; PATH_LEN],
    /// The second path of link and rename.
    pub path2: [u8; PATH_LEN],
    /// `how` bits: which of the facts below the kernel filled.
    pub how: u32,
    /// The file's device (the kernel's dev_t: major << 20 | minor).
    pub dev: u32,
    /// Superblock magic, inode number and size at entry of the fd's file (fd-based calls, and
    /// calls on a dfd with an empty path).
    pub magic: u64,
    pub ino: u64,
    pub size: i64,
    pub nlink: u32,
    /// The device of the filesystem at the task's root (a container's: its overlay). With it a
    /// call is resolved after the container's mount namespace is gone (`mount_tables.rs`).
    pub root_dev: u32,
    /// Where the first path starts (its dfd or the cwd), walked; under `how::BASE2` where the
    /// second path starts (the first being absolute).
    pub base: [u8; WALK_LEN],
}

impl OverlayEvent {
    pub const ZERO: OverlayEvent = OverlayEvent {
        origin: crate::Origin::ZERO,
        enter_ns: 0,
        exit_ns: 0,
        ret: 0,
        flags: 0,
        copy_up_ns: 0,
        copy_ups: 0,
        nr: 0,
        dfd: 0,
        dfd2: 0,
        path: [0; PATH_LEN],
        path2: [0; PATH_LEN],
        how: 0,
        dev: 0,
        magic: 0,
        ino: 0,
        size: 0,
        nlink: 0,
        root_dev: 0,
        base: [0; WALK_LEN],
    };
}

#[cfg(feature = "user")]
mod pod {
    unsafe impl aya::Pod for super::OverlayEvent {}
    unsafe impl aya::Pod for super::MapKey {}
    unsafe impl aya::Pod for super::SharedMap {}
}
