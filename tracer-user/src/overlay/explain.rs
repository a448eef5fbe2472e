//! The overlay findings' text, built from what was observed.

use super::section::{CopyUp, ExdevRename, GroupReport, HardlinkBreak, StaleMapping};

fn mib(b: u64) -> f64 {
    b as f64 / (1 << 20) as f64
}

fn place(g: &GroupReport) -> String {
    g.container_name
        .clone()
        .or(g.container_id.clone())
        .map_or("On the host".into(), |c| format!("In container {c}"))
}

pub fn copy_up_explanation(g: &GroupReport) -> String {
    let big = &g.largest[0];
    let mut s = format!(
        "{}, {} file(s) from the image's lower layers were copied up to the writable layer ({:.1} MiB in all); \
         the largest, {} ({:.1} MiB), was copied when {} ({}) first modified it, and that call took {:.1} ms. \
         overlayfs copies the whole file (data and fsync) on the first write, truncate, chmod, chown, setxattr or link \
         of a lower file, however small the change.",
        place(g),
        g.copy_ups,
        mib(g.bytes),
        big.path,
        mib(big.size),
        big.comm,
        big.trigger,
        big.latency_ns as f64 / 1e6
    );
    if let Some(free) = g.upper_free {
        s.push_str(&format!(
            " The upper filesystem has {:.1} MiB free: a copy-up fails when the file is larger than the free space.",
            mib(free)
        ));
    }
    s
}

pub fn copy_up_remediation(g: &GroupReport) -> String {
    let mut s = String::from(
        "Put files that are written in place on a volume (`docker run -v`), not in the image; or create them at start \
         instead of shipping them in a lower layer.",
    );
    if g.upper_free
        .is_some_and(|f| f < g.largest[0].size.saturating_mul(2))
    {
        s.push_str(" Free space on the upper filesystem (the Docker data root) before the next copy-up of a file this size fails.");
    }
    s
}

pub fn exdev_explanation(es: &[&ExdevRename]) -> String {
    let e = es[0];
    format!(
        "{} rename(s) failed with EXDEV on an overlay mount, e.g. {} ({}) renaming {} to {}{}. overlayfs cannot rename a \
         directory that comes from a lower layer in place unless redirect_dir is on (module parameter: {}; this \
         mount: {}); programs that don't fall back to copy-and-delete fail.",
        es.len(),
        e.comm,
        e.pid,
        e.source,
        e.target,
        if e.source_is_lower_dir {
            " (a directory from a lower layer)"
        } else {
            ""
        },
        e.redirect_dir_param.as_deref().unwrap_or("unknown"),
        e.mount_redirect_dir.as_deref().unwrap_or("default")
    )
}

pub fn exdev_remediation(_e: &ExdevRename) -> String {
    "Enable redirect_dir (`redirect_dir=on` as a mount option, or the overlay module parameter `redirect_dir=Y`): \
     it needs a kernel of 4.10+, and a layer written with it can't be read correctly by older kernels or tools that \
     don't follow redirects. Or keep data that is renamed on a volume, or build the directory into the image at its \
     final path so that no rename is needed."
        .into()
}

pub fn failed_explanation(failed: &[&CopyUp]) -> String {
    let c = failed[0];
    format!(
        "{} call(s) failed because the file they had to copy up did not fit on the upper filesystem, e.g. {} ({}) on \
         {}: {} copies the whole file ({:.1} MiB) to the upper layer first, and only {} was free there. The call \
         returned {} and the file was left unchanged.",
        failed.len(),
        c.comm,
        c.pid,
        c.path,
        c.trigger,
        mib(c.size),
        c.upper_free
            .map_or("an unknown amount".into(), |f| format!("{:.1} MiB", mib(f))),
        c.error.unwrap_or("an error")
    )
}

pub fn failed_remediation(c: &CopyUp) -> String {
    format!(
        "Free space (or raise the quota) on the filesystem of {} (the Docker data root for containers), or keep files \
         this large that are written in place on a volume instead of in the image.",
        c.upper
    )
}

pub fn hardlink_explanation(hs: &[&HardlinkBreak]) -> String {
    let h = hs[0];
    format!(
        "{} hard-linked file(s) from a lower layer were copied up while the overlay index is off (module parameter: \
         {}; this mount: {}), e.g. {} ({} links) by {} ({}). The copy is a new file: the other name(s) {} still show \
         the old content, and a later change through them no longer reaches this one.",
        hs.len(),
        h.index_param.as_deref().unwrap_or("unknown"),
        h.mount_index.as_deref().unwrap_or("default"),
        h.path,
        h.nlink,
        h.comm,
        h.pid,
        if h.other_names.is_empty() {
            "(not found in the layer)".to_string()
        } else {
            h.other_names.join(", ")
        }
    )
}

pub fn hardlink_remediation() -> String {
    "Docker's overlay2 mounts with index=off itself, so fix the image: don't hard-link files that are written at run \
     time (copy them instead), or keep them on a volume. Other overlay users can mount with index=on (kernel 4.13+), \
     which keeps hard links together on copy-up; it needs the same lower layers at every mount and an upper \
     filesystem with file handles, and makes the layers unusable by tools that don't know the index."
        .into()
}

pub fn stale_explanation(ss: &[&StaleMapping]) -> String {
    let s = ss[0];
    format!(
        "{} ({}) copied {} up while {} ({}) held it through a {}{}. The copy-up made a new file in the upper layer; \
         that {} still points at the old copy in the lower layer, so it keeps reading the old content and its \
         writes reach nobody else ({}).",
        s.comm,
        s.pid,
        s.path,
        s.holder_comm,
        s.holder_pid,
        s.holder_how,
        s.mapping_age_s
            .map_or(String::new(), |a| format!(" made {a:.1} s earlier")),
        s.holder_how,
        s.kernel_rule
    )
}

pub fn stale_remediation() -> String {
    "Have the file copied up before anyone maps it (touch or chmod it at container start, or in the image build \
     with a later layer), or keep files that are shared through mmap on a volume, where there is no copy-up."
        .into()
}
