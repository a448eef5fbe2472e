//! The kernel struct offsets the overlay probes walk (a task's fd table, a dentry's parents, a
//! mount's parent), read from the kernel's BTF (`crate::btf`) and handed to the probes as a
//! load-time global: aya's probes have no CO-RE relocations.

use std::sync::OnceLock;

use tracer_common::overlay::off;

use crate::btf::Btf;

/// (index, struct, member) of every offset in `tracer_common::overlay::off`.
const WANTED: [(usize, &str, &str); off::VALID] = [
    (off::TASK_FS, "task_struct", "fs"),
    (off::TASK_FILES, "task_struct", "files"),
    (off::FS_ROOT, "fs_struct", "root"),
    (off::FS_PWD, "fs_struct", "pwd"),
    (off::PATH_MNT, "path", "mnt"),
    (off::PATH_DENTRY, "path", "dentry"),
    (off::FILES_FDT, "files_struct", "fdt"),
    (off::FDT_MAX_FDS, "fdtable", "max_fds"),
    (off::FDT_FD, "fdtable", "fd"),
    (off::FILE_PATH, "file", "f_path"),
    (off::FILE_INODE, "file", "f_inode"),
    (off::INODE_SB, "inode", "i_sb"),
    (off::INODE_INO, "inode", "i_ino"),
    (off::INODE_SIZE, "inode", "i_size"),
    (off::INODE_NLINK, "inode", "__i_nlink"),
    (off::SB_MAGIC, "super_block", "s_magic"),
    (off::SB_DEV, "super_block", "s_dev"),
    (off::DENTRY_PARENT, "dentry", "d_parent"),
    (off::DENTRY_NAME, "dentry", "d_name"),
    (off::QSTR_NAME, "qstr", "name"),
    (off::VFSMOUNT_ROOT, "vfsmount", "mnt_root"),
    (off::MOUNT_MNT, "mount", "mnt"),
    (off::MOUNT_PARENT, "mount", "mnt_parent"),
    (off::MOUNT_MOUNTPOINT, "mount", "mnt_mountpoint"),
    (off::VFSMOUNT_SB, "vfsmount", "mnt_sb"),
];

/// All zero (the probes then read nothing and user space falls back to /proc) when any is
/// missing, without BTF, or under CTRACE_NO_BTF_OFFSETS.
pub fn overlay() -> [u32; off::COUNT] {
    static OFFSETS: OnceLock<[u32; off::COUNT]> = OnceLock::new();
    *OFFSETS.get_or_init(|| {
        if std::env::var_os("CTRACE_NO_BTF_OFFSETS").is_some() {
            return [0; off::COUNT];
        }
        let found = Btf::kernel().ok().and_then(overlay_from);
        found.unwrap_or_else(|| {
            log::info!("overlay: kernel struct offsets unavailable: paths from /proc");
            [0; off::COUNT]
        })
    })
}

/// Dentries overlay's walk program walks per run: `CTRACE_OVERLAY_WALK_STEPS` (1 to the walk's
/// depth; a way to show what an old verifier refuses), else the default.
pub fn overlay_walk_steps() -> anyhow::Result<u32> {
    use tracer_common::overlay::{WALK_DEPTH, WALK_STEPS_DEFAULT};
    match std::env::var("CTRACE_OVERLAY_WALK_STEPS") {
        Err(_) => Ok(WALK_STEPS_DEFAULT),
        Ok(v) => v
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=WALK_DEPTH as u32).contains(n))
            .ok_or_else(|| {
                anyhow::anyhow!("CTRACE_OVERLAY_WALK_STEPS={v} is not 1 to {WALK_DEPTH}")
            }),
    }
}

/// `CTRACE_OVERLAY_WALK_WHOLE=1`: overlay's walk in one run, as before old verifiers were
/// found to refuse it (docs/kernels.md); 0 otherwise.
pub fn overlay_walk_whole() -> u32 {
    u32::from(std::env::var("CTRACE_OVERLAY_WALK_WHOLE").is_ok_and(|v| v == "1"))
}

/// Where the sampled seccomp probe reads a task's slow-path bits: `thread_info.syscall_work`
/// where the kernel's BTF has it (5.11+), else the TIF bits of `thread_info.flags`.
pub fn seccomp_work_at() -> [u32; 2] {
    use tracer_common::seccomp::{LAYOUT_SYSCALL_WORK, LAYOUT_TIF, WORK_AT_DEFAULT};
    static AT: OnceLock<[u32; 2]> = OnceLock::new();
    *AT.get_or_init(|| {
        let Ok(btf) = Btf::kernel() else {
            return WORK_AT_DEFAULT;
        };
        let ti = btf.offset("task_struct", "thread_info").unwrap_or(0);
        match (
            btf.offset("thread_info", "syscall_work"),
            btf.offset("thread_info", "flags"),
        ) {
            (Some(w), _) => [ti + w, LAYOUT_SYSCALL_WORK],
            (None, Some(f)) => [ti + f, LAYOUT_TIF],
            _ => WORK_AT_DEFAULT,
        }
    })
}

/// Whether the overlay probes capture paths and fd facts in the kernel.
pub fn overlay_in_kernel() -> bool {
    overlay()[off::VALID] != 0
}

fn overlay_from(btf: &Btf) -> Option<[u32; off::COUNT]> {
    let mut out = [0; off::COUNT];
    for (i, strukt, member) in WANTED {
        out[i] = btf.offset(strukt, member)?;
    }
    out[off::VALID] = 1;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_overlay_offset_is_found_in_this_kernel() {
        let Ok(btf) = Btf::from_sys_fs() else {
            return; // no BTF: the probes fall back, nothing to check here
        };
        let o = overlay_from(&btf).expect("every offset present");
        assert_eq!(o[off::VALID], 1);
        // Stable for years on x86_64: struct path is two pointers, qstr's name follows a u64.
        assert_eq!((o[off::PATH_MNT], o[off::PATH_DENTRY]), (0, 8));
        assert_eq!(o[off::QSTR_NAME], 8);
        // Found through inode's anonymous union.
        assert!(o[off::INODE_NLINK] > 0);
        assert_eq!(btf.offset("inode", "no_such_member"), None);
    }
}
