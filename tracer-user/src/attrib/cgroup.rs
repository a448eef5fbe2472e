//! Finding a container id in the text of /proc/PID/cgroup, and telling which
//! cgroup layout the host runs.

use std::fs;

/// A container id found in a cgroup path, with the runtime its naming scheme implies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerRef {
    /// Full 64-hex-character id, lowercase.
    pub id: String,
    /// "docker" | "containerd" | "cri-o" | "podman" | "kubernetes".
    pub runtime: &'static str,
}

const ID_LEN: usize = 64;

/// Prefixes runtimes put before the id, both in systemd scope units
/// (`docker-<id>.scope`) and in cgroupfs directories (`libpod-<id>`).
const PREFIXES: &[(&str, &str)] = &[
    ("docker-", "docker"),
    ("cri-containerd-", "containerd"),
    ("crio-", "cri-o"),
    ("libpod-", "podman"),
];

/// Parses /proc/PID/cgroup (`hierarchy-ID:controllers:path` lines) and returns
/// the container the process runs in, if any.
pub fn container_from_cgroup(proc_cgroup: &str) -> Option<ContainerRef> {
    // Every line is examined: with docker's cgroupfs driver on a hybrid host
    // only the v1 lines carry the id and the unified `0::` line is just `/`.
    proc_cgroup.lines().find_map(|line| {
        // The path is the third field and may itself contain ':'.
        let path = line.splitn(3, ':').nth(2)?;
        container_from_path(path)
    })
}

pub fn container_from_path(path: &str) -> Option<ContainerRef> {
    let comps: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
    // The innermost id wins: with nested containers (docker-in-docker) the
    // process really runs in the deepest one.
    comps.iter().enumerate().rev().find_map(|(i, comp)| {
        let unit = comp.strip_suffix(".scope").unwrap_or(comp);
        for &(prefix, runtime) in PREFIXES {
            if let Some(id) = unit.strip_prefix(prefix)
                && is_id(id)
            {
                return Some(container_ref(id, runtime));
            }
        }
        if !is_id(comp) {
            return None;
        }
        // A bare id says nothing by itself; its parents tell who made it.
        let runtime = if i > 0 && comps[i - 1] == "docker" {
            "docker"
        } else if comps[..i].iter().any(|c| c.starts_with("kubepods")) {
            "kubernetes"
        } else {
            // containerd without CRI nests ids under its namespace: /default/<id>.
            "containerd"
        };
        Some(container_ref(comp, runtime))
    })
}

fn container_ref(id: &str, runtime: &'static str) -> ContainerRef {
    ContainerRef {
        id: id.to_ascii_lowercase(),
        runtime,
    }
}

fn is_id(s: &str) -> bool {
    s.len() == ID_LEN && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// How cgroups are mounted on this host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CgroupLayout {
    V1,
    Hybrid,
    V2,
}

impl CgroupLayout {
    pub fn name(self) -> &'static str {
        match self {
            CgroupLayout::V1 => "v1",
            CgroupLayout::Hybrid => "hybrid",
            CgroupLayout::V2 => "v2",
        }
    }
}

/// Detects the cgroup layout from the mount table.
pub fn cgroup_layout() -> CgroupLayout {
    // V1 is the safe guess when the mount table is unreadable: it makes no
    // claim that a unified hierarchy exists.
    fs::read_to_string("/proc/self/mounts")
        .map(|mounts| layout_from_mounts(&mounts))
        .unwrap_or(CgroupLayout::V1)
}

/// Decides the layout from the text of /proc/self/mounts.
fn layout_from_mounts(mounts: &str) -> CgroupLayout {
    // A later mount on the same point hides earlier ones, so the last entry counts.
    let fstype_at = |target: &str| {
        mounts
            .lines()
            .filter_map(|line| {
                let mut fields = line.split_whitespace();
                let (_source, point, fstype) = (fields.next()?, fields.next()?, fields.next()?);
                (point == target).then_some(fstype)
            })
            .next_back()
    };
    match fstype_at("/sys/fs/cgroup") {
        Some("cgroup2") => CgroupLayout::V2,
        Some("tmpfs") if fstype_at("/sys/fs/cgroup/unified") == Some("cgroup2") => {
            CgroupLayout::Hybrid
        }
        _ => CgroupLayout::V1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3f5a0c1e9b7d2468ace013579bdf02468ace13579bdf02468ace13579bdf0246";

    fn found(text: &str) -> Option<(String, &'static str)> {
        container_from_cgroup(text).map(|c| (c.id, c.runtime))
    }

    fn expect(text: &str, runtime: &'static str) {
        assert_eq!(found(text), Some((ID.to_string(), runtime)), "{text}");
    }

    #[test]
    fn docker_systemd_driver_v2() {
        expect(&format!("0::/system.slice/docker-{ID}.scope\n"), "docker");
    }

    #[test]
    fn docker_systemd_driver_v1() {
        let text = format!(
            "12:pids:/system.slice/docker-{ID}.scope\n\
             4:memory:/system.slice/docker-{ID}.scope\n\
             1:name=systemd:/system.slice/docker-{ID}.scope\n"
        );
        expect(&text, "docker");
    }

    #[test]
    fn docker_cgroupfs_driver_hybrid() {
        // As on this host: the id only in v1 lines, unified line is "/".
        let text = format!(
            "9:name=systemd:/docker/{ID}\n8:pids:/docker/{ID}\n\
             4:memory:/docker/{ID}\n1:cpu:/docker/{ID}\n0::/\n"
        );
        expect(&text, "docker");
    }

    #[test]
    fn docker_cgroupfs_driver_v2() {
        expect(&format!("0::/docker/{ID}\n"), "docker");
    }

    #[test]
    fn docker_in_docker_takes_innermost() {
        let outer = "a".repeat(64);
        let text = format!("0::/docker/{outer}/docker/{ID}\n");
        expect(&text, "docker");
    }

    #[test]
    fn containerd_cri_systemd() {
        let text = format!(
            "0::/kubepods.slice/kubepods-burstable.slice/\
             kubepods-burstable-pod1b2c3d4e_5f60_7182_93a4_b5c6d7e8f901.slice/\
             cri-containerd-{ID}.scope\n"
        );
        expect(&text, "containerd");
    }

    #[test]
    fn kubernetes_cgroupfs_bare_id() {
        let text = format!(
            "11:memory:/kubepods/burstable/pod1b2c3d4e-5f60-7182-93a4-b5c6d7e8f901/{ID}\n\
             0::/\n"
        );
        expect(&text, "kubernetes");
        let besteffort = format!("0::/kubepods/besteffort/pod1234/{ID}\n");
        expect(&besteffort, "kubernetes");
    }

    /// The kubelet's pod cgroups for each QoS class (guaranteed pods sit directly under
    /// kubepods), with each runtime, under the systemd and the cgroupfs driver, on v2 and v1.
    #[test]
    fn kubernetes_pod_slices_by_qos_class() {
        let uid = "1b2c3d4e_5f60_7182_93a4_b5c6d7e8f901";
        let uid_dashed = uid.replace('_', "-");
        for (qos_slice, qos_dir) in [
            ("", ""),
            ("kubepods-burstable.slice/", "burstable/"),
            ("kubepods-besteffort.slice/", "besteffort/"),
        ] {
            let qos = qos_slice
                .strip_suffix(".slice/")
                .map(|s| format!("{s}-"))
                .unwrap_or_else(|| "kubepods-".into());
            let pod_slice = format!("/kubepods.slice/{qos_slice}{qos}pod{uid}.slice");
            let pod_dir = format!("/kubepods/{qos_dir}pod{uid_dashed}");
            for (leaf, runtime) in [
                (format!("cri-containerd-{ID}.scope"), "containerd"),
                (format!("crio-{ID}.scope"), "cri-o"),
                (format!("docker-{ID}.scope"), "docker"),
            ] {
                expect(&format!("0::{pod_slice}/{leaf}\n"), runtime);
                expect(&format!("4:memory:{pod_slice}/{leaf}\n0::/\n"), runtime);
            }
            // cgroupfs driver: containerd and dockershim use the bare id, CRI-O its prefix.
            expect(&format!("0::{pod_dir}/{ID}\n"), "kubernetes");
            expect(&format!("7:pids:{pod_dir}/{ID}\n0::/\n"), "kubernetes");
            expect(&format!("0::{pod_dir}/crio-{ID}\n"), "cri-o");
        }
    }

    #[test]
    fn pod_cgroup_itself_is_not_a_container() {
        for text in [
            "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1b2c3d4e_5f60_7182_93a4_b5c6d7e8f901.slice\n",
            "0::/kubepods/besteffort/pod1b2c3d4e-5f60-7182-93a4-b5c6d7e8f901\n",
            "0::/kubepods.slice\n",
        ] {
            assert_eq!(found(text), None, "{text:?}");
        }
    }

    #[test]
    fn crio_scope_and_plain() {
        let scope = format!("0::/kubepods.slice/kubepods-pod1234.slice/crio-{ID}.scope\n");
        expect(&scope, "cri-o");
        expect(&format!("0::/kubepods/pod1234/crio-{ID}\n"), "cri-o");
    }

    #[test]
    fn crio_conmon_is_not_a_container() {
        let text = format!("0::/kubepods.slice/kubepods-pod1234.slice/crio-conmon-{ID}.scope\n");
        assert_eq!(found(&text), None);
    }

    #[test]
    fn podman_systemd_with_container_subgroup() {
        expect(
            &format!("0::/machine.slice/libpod-{ID}.scope/container\n"),
            "podman",
        );
        let rootless = format!(
            "0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{ID}.scope\n"
        );
        expect(&rootless, "podman");
    }

    #[test]
    fn podman_cgroupfs() {
        expect(&format!("0::/libpod_parent/libpod-{ID}\n"), "podman");
        expect(
            &format!("5:memory:/libpod_parent/libpod-{ID}\n0::/\n"),
            "podman",
        );
    }

    #[test]
    fn containerd_namespace_layout() {
        expect(&format!("0::/default/{ID}\n"), "containerd");
        expect(&format!("3:cpuset:/k8s.io/{ID}\n"), "containerd");
    }

    #[test]
    fn uppercase_id_is_normalised() {
        let text = format!("0::/docker/{}\n", ID.to_ascii_uppercase());
        expect(&text, "docker");
    }

    #[test]
    fn no_container() {
        for text in [
            "0::/\n",
            "0::/user.slice/user-1000.slice/session-3.scope\n",
            "0::/system.slice/ssh.service\n",
            "1:name=systemd:/init.scope\n0::/init.scope\n",
            "4:memory:/process_api/62e0e53edd5c0d91099eab8d1e119d19\n0::/\n",
            // Wrong lengths and non-hex ids.
            "0::/docker/3f5a0c1e9b7d\n",
            &format!("0::/docker/{ID}0\n"),
            &format!("0::/system.slice/docker-{}.scope\n", "g".repeat(64)),
            "",
            "garbage without colons\n",
        ] {
            assert_eq!(found(text), None, "{text:?}");
        }
    }

    const V1_MOUNTS: &str = "\
sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0
tmpfs /sys/fs/cgroup tmpfs ro,nosuid,nodev,noexec,mode=755 0 0
cgroup /sys/fs/cgroup/systemd cgroup rw,nosuid,nodev,noexec,relatime,xattr,name=systemd 0 0
cgroup /sys/fs/cgroup/memory cgroup rw,nosuid,nodev,noexec,relatime,memory 0 0
";

    #[test]
    fn layout_v1() {
        assert_eq!(layout_from_mounts(V1_MOUNTS), CgroupLayout::V1);
        assert_eq!(layout_from_mounts(""), CgroupLayout::V1);
    }

    #[test]
    fn layout_hybrid() {
        let mounts = format!("{V1_MOUNTS}cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0\n");
        assert_eq!(layout_from_mounts(&mounts), CgroupLayout::Hybrid);
    }

    #[test]
    fn layout_v2() {
        let mounts = "sysfs /sys sysfs rw 0 0\n\
                      cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime,nsdelegate 0 0\n";
        assert_eq!(layout_from_mounts(mounts), CgroupLayout::V2);
    }

    #[test]
    fn layout_last_mount_wins() {
        let mounts = "tmpfs /sys/fs/cgroup tmpfs rw 0 0\n\
                      cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n";
        assert_eq!(layout_from_mounts(mounts), CgroupLayout::V2);
    }

    #[test]
    fn layout_names() {
        let names = [CgroupLayout::V1, CgroupLayout::Hybrid, CgroupLayout::V2].map(|l| l.name());
        assert_eq!(names, ["v1", "hybrid", "v2"]);
    }
}
