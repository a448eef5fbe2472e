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

/// Writes the names from `at` up to `root` into `buf`, leaf first, each ending in NUL, and an
/// empty name after the last. Returns false when it stopped before the root (too deep, too
/// long, or a read failed).
#[inline(always)]
pub fn walk(root: Path, at: Path, buf: &mut [u8; WALK_LEN]) -> bool {
    let mut len: usize = 0;
    let whole = names(root, at, buf, &mut len);
    buf[len & (WALK_LEN - 1)] = 0;
    whole
}

#[inline(always)]
fn names(root: Path, at: Path, buf: &mut [u8; WALK_LEN], len: &mut usize) -> bool {
    let (mut mnt, mut d) = (at.mnt, at.dentry);
    for _ in 0..WALK_DEPTH {
        if d == root.dentry && mnt == root.mnt {
            return true;
        }
        let Some(mnt_root) = rd::<u64>(mnt, o(off::VFSMOUNT_ROOT)) else {
            return false;
        };
        if d == mnt_root {
            // The top of a mount: continue from where it is mounted.
            let mount = mnt - o(off::MOUNT_MNT);
            let Some(parent) = rd::<u64>(mount, o(off::MOUNT_PARENT)) else {
                return false;
            };
            if parent == mount {
                return true; // the namespace's first mount
            }
            let Some(point) = rd::<u64>(mount, o(off::MOUNT_MOUNTPOINT)) else {
                return false;
            };
            (mnt, d) = (parent + o(off::MOUNT_MNT), point);
            continue;
        }
        let Some(parent) = rd::<u64>(d, o(off::DENTRY_PARENT)) else {
            return false;
        };
        if parent == d {
            return true;
        }
        let Some(name) = rd::<u64>(d, o(off::DENTRY_NAME) + o(off::QSTR_NAME)) else {
            return false;
        };
        if *len >= WALK_LEN - WALK_NAME {
            return false;
        }
        let dst = buf
            .as_mut_ptr()
            .wrapping_add(*len & (WALK_LEN - WALK_NAME - 1));
        let n =
            unsafe { bpf_probe_read_kernel_str(dst as *mut _, WALK_NAME as u32, name as *const _) };
        if n <= 0 {
            return false;
        }
        *len += n as usize;
        d = parent;
    }
    false
}
