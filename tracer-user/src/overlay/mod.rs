//! overlay: copy-ups of lower-layer files (and those that fail for space), hard links they break,
//! and EXDEV renames. Probes: the calls that can copy up or rename, through the syscall
//! dispatcher, with paths and fd facts captured in the kernel; proof of a copy-up comes from the
//! upper layer.

pub mod analyzer;
pub mod doctor;
pub mod entry;
pub mod explain;
pub mod host_overlays;
pub mod kernel_tier;
pub mod layers;
pub mod metacopy;
pub mod mount_tables;
pub mod mounts;
pub mod paths;
pub mod run;
pub mod section;
pub mod serve;
pub mod stale;
pub mod text;

/// What a syscall does to a file, in the words of the overlayfs documentation.
pub fn trigger(syscall: &str) -> &'static str {
    match syscall {
        "open" | "openat" | "openat2" | "creat" => "open for write",
        "truncate" | "ftruncate" => "truncate",
        "chmod" | "fchmod" | "fchmodat" | "fchmodat2" => "chmod",
        "chown" | "fchown" | "lchown" | "fchownat" => "chown",
        "utime" | "utimes" | "futimesat" | "utimensat" => "utimes",
        "setxattr" | "lsetxattr" | "fsetxattr" | "setxattrat" => "setxattr",
        "removexattr" | "lremovexattr" | "fremovexattr" | "removexattrat" => "removexattr",
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
