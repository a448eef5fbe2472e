//! overlay: copy-ups of lower-layer files and EXDEV renames. Probes: the calls that can copy up or
//! rename, through the syscall dispatcher; proof of a copy-up comes from the upper layer.

pub mod analyzer;
pub mod explain;
pub mod kernel_tier;
pub mod mounts;
pub mod run;

use std::path::Path;

use crate::doctor::{Check, Status};

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

/// `ctrace doctor`: the overlay module's parameters and every overlay mount's upper free space.
pub fn doctor_checks() -> Vec<Check> {
    let params: Vec<String> = ["redirect_dir", "index", "metacopy"]
        .iter()
        .map(|p| format!("{p}={}", module_param(p).unwrap_or_else(|| "?".into())))
        .collect();
    let mut out = vec![Check {
        name: "overlay:module".into(),
        status: if Path::new("/sys/module/overlay").exists() {
            Status::Ok
        } else {
            Status::Warn
        },
        detail: if Path::new("/sys/module/overlay").exists() {
            params.join(" ")
        } else {
            "overlay module not loaded (no overlay mounts yet)".into()
        },
    }];
    for m in mounts::mounts_of(std::process::id())
        .into_iter()
        .filter(|m| m.fstype == "overlay")
    {
        let free = m.upper.as_deref().and_then(mounts::free_bytes);
        out.push(Check {
            name: "overlay:mount".into(),
            status: if free.is_some_and(|f| f < 1 << 30) {
                Status::Warn
            } else {
                Status::Ok
            },
            detail: format!(
                "{}: upper {} has {} free{}",
                m.mount_point,
                m.upper.as_deref().unwrap_or("?"),
                free.map_or("?".into(), |f| format!(
                    "{:.1} GiB",
                    f as f64 / (1u64 << 30) as f64
                )),
                m.redirect_dir
                    .as_deref()
                    .map_or(String::new(), |r| format!(", redirect_dir={r}"))
            ),
        });
    }
    out
}
