//! The overlay section of the report, and the records it lists.

use serde::Serialize;

use crate::{attrib::Container, hist::Bucket};

#[derive(Clone, Debug, Default, Serialize)]
pub struct CopyUp {
    pub at: f64,
    pub pid: u32,
    pub comm: String,
    #[serde(skip)]
    pub container: Option<Container>,
    /// The path as the process sees it.
    pub path: String,
    /// Bytes copied: the lower file's size before the call (0 for an O_TRUNC open, and for a
    /// metadata-only copy-up under metacopy).
    pub size: u64,
    /// Only the metadata was copied (metacopy on, and a chmod, chown, utimes or xattr change).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub metadata_only: bool,
    /// The data copy-up that completes an earlier metadata-only one (the upper file existed,
    /// without its data): how that is known, `metadata_copy_up_seen` (this run recorded the
    /// metadata-only copy-up) or `kernel_copy_up` (the kernel tier timed a copy-up inside the
    /// call). The upper file no longer holds the metacopy xattr after it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completes_metacopy: Option<&'static str>,
    /// Where the path came from: "kernel" (captured at the call) or "proc" (read afterwards).
    pub evidence: &'static str,
    /// A failed copy-up: the errno of the call (ENOSPC, EDQUOT).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'static str>,
    /// Latency of the syscall that triggered it.
    pub latency_ns: u64,
    /// Kernel tier: the copy-up function's own time in that call (files and ancestors).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub copy_up_ns: Option<u64>,
    /// open for write, truncate, chmod, chown, utimes, setxattr, removexattr, link or rename.
    pub trigger: String,
    pub upper: String,
    pub upper_free: Option<u64>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct ExdevRename {
    pub at: f64,
    pub pid: u32,
    pub comm: String,
    #[serde(skip)]
    pub container: Option<Container>,
    pub source: String,
    pub target: String,
    pub source_is_lower_dir: bool,
    /// Source and target on the same overlay mount: only then can redirect_dir help.
    pub same_mount: bool,
    /// The target's mount point (another mount: a volume, a bind mount).
    pub target_mount: Option<String>,
    /// /sys/module/overlay/parameters/redirect_dir.
    pub redirect_dir_param: Option<String>,
    /// The mount's own redirect_dir option.
    pub mount_redirect_dir: Option<String>,
    /// On a container engine's start-up probe overlay (`is_engine_probe`): never a finding.
    pub engine_probe: bool,
}

/// Scratch directories that container engines make under their overlay home at start-up, to
/// probe the kernel's overlay features: dockerd's overlay2 and containers/storage (podman,
/// CRI-O, buildah) both rename a lower directory on `<home>/opaque-bug-check*/merged` and
/// expect EXDEV when redirect_dir is off.
const ENGINE_PROBE_DIRS: [&str; 3] = ["opaque-bug-check", "metacopy-check", "multiple-lowers"];

/// Whether `path` lies on an engine's start-up probe overlay
/// (`.../overlay2/opaque-bug-check123/merged/...`, `.../overlay/metacopy-check9/merged/...`).
pub fn is_engine_probe(path: &str) -> bool {
    let parts: Vec<&str> = path.split('/').collect();
    parts.windows(3).any(|w| {
        matches!(w[0], "overlay2" | "overlay")
            && ENGINE_PROBE_DIRS.iter().any(|p| w[1].starts_with(p))
            && w[2] == "merged"
    })
}

impl ExdevRename {
    /// A rename that fails only because of overlay: a lower directory moved within one mount.
    /// A move to another mount fails with EXDEV anywhere, by design, and is only counted; so
    /// is an engine's probe of the kernel, which expects the EXDEV (no application lost it).
    pub fn is_finding(&self) -> bool {
        self.same_mount && self.source_is_lower_dir && !self.engine_probe
    }
}

/// A hard-linked lower file copied up while the index is off: its other names keep the old
/// content.
#[derive(Clone, Debug, Default, Serialize)]
pub struct HardlinkBreak {
    pub at: f64,
    pub pid: u32,
    pub comm: String,
    #[serde(skip)]
    pub container: Option<Container>,
    pub path: String,
    pub nlink: u32,
    /// The other names of the same lower inode, as seen through the mount.
    pub other_names: Vec<String>,
    /// /sys/module/overlay/parameters/index, and the mount's own index option.
    pub index_param: Option<String>,
    pub mount_index: Option<String>,
}

/// A copy-up of a file that another process still sees through the lower copy.
#[derive(Clone, Debug, Default, Serialize)]
pub struct StaleMapping {
    pub at: f64,
    /// The process whose call copied the file up.
    pub pid: u32,
    pub comm: String,
    #[serde(skip)]
    pub container: Option<Container>,
    pub path: String,
    /// The process left on the old content, and how ("MAP_SHARED mapping", or "open fd" before
    /// 4.19).
    pub holder_pid: u32,
    pub holder_comm: String,
    pub holder_how: &'static str,
    /// How long the mapping had lived at the copy-up.
    pub mapping_age_s: Option<f64>,
    /// Which rule applies on this kernel.
    pub kernel_rule: &'static str,
}

#[derive(Serialize, Debug, Clone)]
pub struct GroupReport {
    pub container_id: Option<String>,
    pub container_name: Option<String>,
    #[serde(flatten)]
    pub origin: crate::attrib::Origin,
    pub copy_ups: usize,
    pub bytes: u64,
    pub p50_latency_ns: u64,
    pub p99_latency_ns: u64,
    pub latency_hist_ns: Vec<Bucket>,
    pub largest: Vec<CopyUp>,
    pub upper_free: Option<u64>,
    pub exdev_renames: usize,
}

/// The `overlay` section of the report.
#[derive(Serialize, Debug, Clone)]
pub struct OverlayReport {
    /// Calls on overlay-relevant syscalls that were checked for a copy-up.
    pub checked: u64,
    pub copy_ups: usize,
    pub bytes: u64,
    pub p99_latency_ns: u64,
    pub latency_hist_ns: Vec<Bucket>,
    pub groups: Vec<GroupReport>,
    pub exdev: Vec<ExdevRename>,
    /// EXDEV renames that crossed mounts (counted, not findings).
    pub exdev_cross_mount: usize,
    /// Copy-ups that failed for space.
    pub failed: Vec<CopyUp>,
    pub hardlink_breaks: Vec<HardlinkBreak>,
    pub stale_mappings: Vec<StaleMapping>,
    /// "tracepoint", or "kprobe" when copy-ups are also timed in the kernel.
    pub tier: &'static str,
    /// Kernel tier: the tracepoint tier's answer checked against the kernel's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tier_check: Option<super::kernel_tier::TierCheck>,
}
