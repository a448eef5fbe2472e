//! overlay: facts read from kernel structs at the call, so that user space needs nothing of
//! the process afterwards. The file behind an fd (through the task's fd table) and the path of
//! a dentry (walked up to the task's root, across mounts). Offsets come from the kernel's BTF
//! through a load-time global; without them nothing is read.

use aya_ebpf::helpers::{
    bpf_get_current_task, bpf_probe_read_kernel, generated::bpf_probe_read_kernel_str,
};
use tracer_common::overlay::{OverlayEvent, WALK_DEPTH, WALK_LEN, WALK_NAME, how, off};

/// Filled by user space from the kernel's BTF (`tracer_common::overlay::off`).
#[unsafe(no_mangle)]
static OVERLAY_OFFSETS: [u32; off::COUNT] = [0; off::COUNT];

#[inline(always)]
fn o(i: usize) -> u64 {
    // Volatile: the loader rewrites the value, the compiler must not fold the zeros in.
    u64::from(unsafe { core::ptr::read_volatile(&OVERLAY_OFFSETS[i]) })
}

#[inline(always)]
pub fn usable() -> bool {
    o(off::VALID) != 0
}

#[inline(always)]
fn rd<T>(base: u64, offset: u64) -> Option<T> {
    if base == 0 {
        return None;
    }
    unsafe { bpf_probe_read_kernel((base + offset) as *const T) }.ok()
}

/// A (vfsmount, dentry) pair.
#[derive(Clone, Copy)]
pub struct Path {
    mnt: u64,
    dentry: u64,
}

#[inline(always)]
fn path_at(p: u64) -> Option<Path> {
    Some(Path {
        mnt: rd(p, o(off::PATH_MNT))?,
        dentry: rd(p, o(off::PATH_DENTRY))?,
    })
}

#[inline(always)]
fn task() -> u64 {
    unsafe { bpf_get_current_task() }
}

/// The task's root and current directory.
#[inline(always)]
pub fn root_and_cwd() -> Option<(Path, Path)> {
    let fs: u64 = rd(task(), o(off::TASK_FS))?;
    Some((
        path_at(fs + o(off::FS_ROOT))?,
        path_at(fs + o(off::FS_PWD))?,
    ))
}

/// The device of the filesystem mounted at `p`.
#[inline(always)]
pub fn mount_dev(p: Path) -> u32 {
    rd::<u64>(p.mnt, o(off::VFSMOUNT_SB))
        .and_then(|sb| rd(sb, o(off::SB_DEV)))
        .unwrap_or(0)
}

/// The `struct file` of descriptor `fd` of the current task.
#[inline(always)]
pub fn file_of(fd: i32) -> Option<u64> {
    if fd < 0 {
        return None;
    }
    let files: u64 = rd(task(), o(off::TASK_FILES))?;
    let fdt: u64 = rd(files, o(off::FILES_FDT))?;
    let max: u32 = rd(fdt, o(off::FDT_MAX_FDS))?;
    if fd as u32 >= max {
        return None;
    }
    let fds: u64 = rd(fdt, o(off::FDT_FD))?;
    let file: u64 = rd(fds, fd as u64 * 8)?;
    (file != 0).then_some(file)
}

pub fn file_path(file: u64) -> Option<Path> {
    path_at(file + o(off::FILE_PATH))
}

/// `file`'s inode and superblock.
#[inline(always)]
fn inode_sb(file: u64) -> Option<(u64, u64)> {
    let inode = rd::<u64>(file, o(off::FILE_INODE))?;
    Some((inode, rd::<u64>(inode, o(off::INODE_SB))?))
}

/// The superblock magic, device and inode number of `file`.
#[inline(always)]
pub fn file_id(file: u64) -> Option<(u64, u32, u64)> {
    let (inode, sb) = inode_sb(file)?;
    Some((
        rd(sb, o(off::SB_MAGIC))?,
        rd(sb, o(off::SB_DEV))?,
        rd(inode, o(off::INODE_INO))?,
    ))
}

/// The superblock magic, device, inode number, link count and size of `file`'s inode.
#[inline(always)]
pub fn file_facts(file: u64, ev: &mut OverlayEvent) {
    let Some((inode, sb)) = inode_sb(file) else {
        return;
    };
    ev.magic = rd(sb, o(off::SB_MAGIC)).unwrap_or(0);
    ev.dev = rd(sb, o(off::SB_DEV)).unwrap_or(0);
    ev.ino = rd(inode, o(off::INODE_INO)).unwrap_or(0);
    ev.nlink = rd(inode, o(off::INODE_NLINK)).unwrap_or(0);
    ev.size = rd(inode, o(off::INODE_SIZE)).unwrap_or(-1);
    ev.how |= how::FILE;
}

/// `x`, unknown to the compiler (a register move it cannot see through).
#[cfg(target_arch = "bpf")]
#[inline(always)]
fn opaque(mut x: usize) -> usize {
    // SAFETY: `rX = rX` reads and writes one register, touches no memory.
    unsafe { core::arch::asm!("{0} = {0}", inout(reg) x, options(pure, nomem, nostack)) };
    x
}

/// The host build (clippy, unit tests) never runs the walk.
#[cfg(not(target_arch = "bpf"))]
#[inline(always)]
fn opaque(x: usize) -> usize {
    core::hint::black_box(x)
}

/// Dentries walked per program run (`tracer_common::overlay::WALK_STEPS`, default 4), a
/// load-time constant the verifier sees. A program that walks all `WALK_DEPTH` at once is too
/// much for old verifiers (over 1M instructions on 6.1 and 5.10): the walk resumes, by tail
/// call, from a state it keeps in a map, so each run starts from one state the verifier knows.
#[unsafe(no_mangle)]
static OVERLAY_WALK_STEPS: u32 = tracer_common::overlay::WALK_STEPS_DEFAULT;

/// A walk in progress, kept between the runs of the walk program (per CPU: a tail call chain
/// stays on one CPU).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Walk {
    root: Path,
    mnt: u64,
    dentry: u64,
    len: u64,
    left: u64,
    /// The call's own flag, kept to its end (see overlay.rs).
    pub fd_only: u64,
}

impl Walk {
    /// A walk from `at` up to `root`, names written from the start of the buffer.
    #[inline(always)]
    pub fn start(&mut self, root: Path, at: Path, fd_only: bool) {
        self.root = root;
        (self.mnt, self.dentry) = (at.mnt, at.dentry);
        self.len = 0;
        self.left = WALK_DEPTH as u64;
        self.fd_only = u64::from(fd_only);
    }

    /// Up to `OVERLAY_WALK_STEPS` more steps, writing names leaf first, each ending in NUL.
    /// `Some(whole)` when the walk ended (whole: it reached the root, else it was too deep,
    /// too long or a read failed), the buffer then ending in an empty name; `None` when there
    /// is more.
    #[inline(always)]
    pub fn steps(&mut self, buf: &mut [u8; WALK_LEN]) -> Option<bool> {
        // SAFETY: a volatile read of a static the loader rewrites.
        let per_run = unsafe { core::ptr::read_volatile(&OVERLAY_WALK_STEPS) } as usize;
        for i in 0..WALK_DEPTH {
            if i >= per_run {
                return None;
            }
            let end = match self.left {
                0 => Some(false),
                _ => {
                    self.left -= 1;
                    self.step(buf)
                }
            };
            if let Some(whole) = end {
                self.finish(buf);
                return Some(whole);
            }
        }
        None
    }

    /// Ends the names with an empty one, after a walk cut short too.
    #[inline(always)]
    pub fn finish(&mut self, buf: &mut [u8; WALK_LEN]) {
        buf[opaque(self.len as usize) & (WALK_LEN - 1)] = 0;
        self.left = 0;
    }

    /// One dentry up (or one mount out): `Some(whole)` when the walk ends here.
    #[inline(always)]
    fn step(&mut self, buf: &mut [u8; WALK_LEN]) -> Option<bool> {
        let (mnt, d, root) = (self.mnt, self.dentry, self.root);
        if d == root.dentry && mnt == root.mnt {
            return Some(true);
        }
        let Some(mnt_root) = rd::<u64>(mnt, o(off::VFSMOUNT_ROOT)) else {
            return Some(false);
        };
        if d == mnt_root {
            // The top of a mount: continue from where it is mounted.
            let mount = mnt - o(off::MOUNT_MNT);
            let Some(parent) = rd::<u64>(mount, o(off::MOUNT_PARENT)) else {
                return Some(false);
            };
            if parent == mount {
                return Some(true); // the namespace's first mount
            }
            let Some(point) = rd::<u64>(mount, o(off::MOUNT_MOUNTPOINT)) else {
                return Some(false);
            };
            (self.mnt, self.dentry) = (parent + o(off::MOUNT_MNT), point);
            return None;
        }
        let Some(parent) = rd::<u64>(d, o(off::DENTRY_PARENT)) else {
            return Some(false);
        };
        if parent == d {
            return Some(true);
        }
        let Some(name) = rd::<u64>(d, o(off::DENTRY_NAME) + o(off::QSTR_NAME)) else {
            return Some(false);
        };
        let len = self.len as usize;
        if len >= WALK_LEN - WALK_NAME {
            return Some(false);
        }
        // The mask is what old verifiers bound the write by: kept, though the check above
        // makes it a no-op the compiler would drop.
        let dst = buf
            .as_mut_ptr()
            .wrapping_add(opaque(len) & (WALK_LEN - WALK_NAME - 1));
        // SAFETY: `dst` is within `buf` with WALK_NAME bytes after it (the mask), and the
        // helper writes at most WALK_NAME bytes; `name` is read by the kernel's checked copy.
        let n =
            unsafe { bpf_probe_read_kernel_str(dst as *mut _, WALK_NAME as u32, name as *const _) };
        if n <= 0 {
            return Some(false);
        }
        self.len += n as u64;
        self.dentry = parent;
        None
    }
}

/// The walk as one run, its state in registers: what ctrace did before 6.1's and 5.10's
/// verifiers were found to refuse it (1M processed instructions). Kept, off unless
/// `CTRACE_OVERLAY_WALK_WHOLE` sets `OVERLAY_WALK_WHOLE` (the verifier drops it otherwise), so
/// that a test can show doctor failing on a program the kernel refuses.
#[inline(always)]
pub fn whole(root: Path, at: Path, buf: &mut [u8; WALK_LEN]) -> bool {
    // On the stack, not in the map: the verifier follows every value of every step.
    let mut w = Walk {
        root,
        mnt: at.mnt,
        dentry: at.dentry,
        len: 0,
        left: WALK_DEPTH as u64,
        fd_only: 0,
    };
    for _ in 0..WALK_DEPTH {
        if let Some(reached) = w.step(buf) {
            w.finish(buf);
            return reached;
        }
    }
    w.finish(buf);
    false
}

/// Set from `CTRACE_OVERLAY_WALK_WHOLE` (see `whole`).
#[unsafe(no_mangle)]
static OVERLAY_WALK_WHOLE: u32 = 0;

#[inline(always)]
pub fn whole_asked() -> bool {
    // SAFETY: a volatile read of a static the loader rewrites.
    unsafe { core::ptr::read_volatile(&OVERLAY_WALK_WHOLE) != 0 }
}
