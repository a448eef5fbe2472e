//! overlay's part of `ctrace doctor`: the module's parameters, the overlay mounts, the tier.

use std::path::Path;

use aya::Ebpf;

use super::{kernel_tier::CopyUpProbe, module_param, mounts};
use crate::{
    attach,
    shared::{Check, Status, check},
    tier::{Features, Tier},
};

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
    out.push(if crate::btf_offsets::overlay_in_kernel() {
        check(
            "overlay:evidence",
            Status::Ok,
            "paths, the dfd or cwd they start from, and fd-based calls' files captured in the \
             kernel at the call (BTF offsets); MAP_SHARED mappings of overlay files recorded",
        )
    } else {
        check(
            "overlay:evidence",
            Status::Warn,
            "no BTF offsets: relative paths and fd-based calls are resolved from /proc after the \
             call, so a process gone by then is resolved through its nearest living ancestor or \
             missed; an fd-based call only while the process lives; stale mappings are not seen",
        )
    });
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

/// The tier, found by attaching the kernel-tier programs for real.
pub fn tier_check(ebpf: &mut Ebpf, f: Features, wish: Option<Tier>) -> Check {
    match CopyUpProbe::attach(ebpf, f, wish) {
        Ok(Some(p)) => {
            for l in p.links() {
                let _ = attach::detach(ebpf, l);
            }
            check(
                "tier:overlay",
                Status::Ok,
                "kprobe (kprobe/kretprobe on ovl_copy_up_one: every copy-up timed in the kernel)",
            )
        }
        Ok(None) => check(
            "tier:overlay",
            Status::Ok,
            "tracepoint (kprobe on ovl_copy_up_one refused here, or the overlay module is not loaded: copy-ups proven from the upper layer)",
        ),
        Err(e) => check("tier:overlay", Status::Fail, format!("{e:#}")),
    }
}
