//! overlay: copy-ups of lower-layer files and EXDEV renames. Probes: the syscall tracepoints of
//! the calls that can copy up or rename; proof of a copy-up comes from the upper layer.

pub mod analyzer;
pub mod doctor;
pub mod entry;
pub mod explain;
pub mod kernel_tier;
pub mod mounts;
pub mod run;
pub mod section;
pub mod serve;
pub mod text;

/// (entry program, syscall), with the sys_enter_* and sys_exit_* tracepoints to attach to.
pub const ENTRIES: [(&str, &str, &str, &str); 18] = [
    (
        "overlay_enter_path",
        "open",
        "sys_enter_open",
        "sys_exit_open",
    ),
    (
        "overlay_enter_path",
        "creat",
        "sys_enter_creat",
        "sys_exit_creat",
    ),
    (
        "overlay_enter_path",
        "truncate",
        "sys_enter_truncate",
        "sys_exit_truncate",
    ),
    (
        "overlay_enter_path",
        "chmod",
        "sys_enter_chmod",
        "sys_exit_chmod",
    ),
    (
        "overlay_enter_path",
        "chown",
        "sys_enter_chown",
        "sys_exit_chown",
    ),
    (
        "overlay_enter_path",
        "lchown",
        "sys_enter_lchown",
        "sys_exit_lchown",
    ),
    (
        "overlay_enter_path",
        "setxattr",
        "sys_enter_setxattr",
        "sys_exit_setxattr",
    ),
    (
        "overlay_enter_path",
        "lsetxattr",
        "sys_enter_lsetxattr",
        "sys_exit_lsetxattr",
    ),
    (
        "overlay_enter_dfd_path",
        "openat",
        "sys_enter_openat",
        "sys_exit_openat",
    ),
    (
        "overlay_enter_dfd_path",
        "openat2",
        "sys_enter_openat2",
        "sys_exit_openat2",
    ),
    (
        "overlay_enter_dfd_path",
        "fchmodat",
        "sys_enter_fchmodat",
        "sys_exit_fchmodat",
    ),
    (
        "overlay_enter_dfd_path",
        "fchmodat2",
        "sys_enter_fchmodat2",
        "sys_exit_fchmodat2",
    ),
    (
        "overlay_enter_dfd_path",
        "fchownat",
        "sys_enter_fchownat",
        "sys_exit_fchownat",
    ),
    (
        "overlay_enter_two",
        "link",
        "sys_enter_link",
        "sys_exit_link",
    ),
    (
        "overlay_enter_two",
        "rename",
        "sys_enter_rename",
        "sys_exit_rename",
    ),
    (
        "overlay_enter_dfd_two",
        "linkat",
        "sys_enter_linkat",
        "sys_exit_linkat",
    ),
    (
        "overlay_enter_dfd_two",
        "renameat",
        "sys_enter_renameat",
        "sys_exit_renameat",
    ),
    (
        "overlay_enter_dfd_two",
        "renameat2",
        "sys_enter_renameat2",
        "sys_exit_renameat2",
    ),
];

/// What a syscall does to a file, in the words of the overlayfs documentation.
pub fn trigger(syscall: &str) -> &'static str {
    match syscall {
        "open" | "openat" | "openat2" | "creat" => "open for write",
        "truncate" => "truncate",
        "chmod" | "fchmodat" | "fchmodat2" => "chmod",
        "chown" | "lchown" | "fchownat" => "chown",
        "setxattr" | "lsetxattr" => "setxattr",
        "link" | "linkat" => "link",
        _ => "rename",
    }
}

pub fn is_rename(syscall: &str) -> bool {
    syscall.starts_with("rename")
}

pub fn module_param(name: &str) -> Option<String> {
    std::fs::read_to_string(format!("/sys/module/overlay/parameters/{name}"))
        .ok()
        .map(|s| s.trim().to_string())
}
