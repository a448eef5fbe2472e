//! Attribution from an event's origin alone: the process is gone (no /proc entry), its cgroup
//! id and namespaces are what the kernel took at the event. The cgroup2 tree is a directory
//! tree here (ids are inode numbers either way), in the forms of a cgroup2-only host (the
//! `vm-test` kernels) and of this project's hybrid hosts.

use super::*;
use tracer_common::Origin;

const ID: &str = "3f5a0c1e9b7d2468ace013579bdf02468ace13579bdf02468ace13579bdf0246";

fn tree(tag: &str, dirs: &[String]) -> (PathBuf, Vec<u64>) {
    let root = std::env::temp_dir().join(format!("ctrace-cg2-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&root);
    let ids = dirs
        .iter()
        .map(|d| {
            let p = root.join(d.trim_start_matches('/'));
            fs::create_dir_all(&p).unwrap();
            fs::metadata(&p).unwrap().ino()
        })
        .collect();
    (root, ids)
}

fn attributor(cgroup2: PathBuf) -> Attributor {
    // An empty /proc: no process the events name is alive.
    let proc_root = std::env::temp_dir().join(format!("ctrace-noproc-{}", std::process::id()));
    fs::create_dir_all(proc_root.join("self/ns")).unwrap();
    fs::write(proc_root.join("self/ns/pid"), "").unwrap();
    let mut a = Attributor::with_paths(proc_root, PathBuf::from("/nonexistent/ctrace/docker.sock"));
    a.cgroups = cgroup_ids::CgroupIds::at(Some(cgroup2));
    a
}

fn origin(cgroup_id: u64, pidns: u32) -> Origin {
    Origin {
        cgroup_id,
        tgid: 999_999,
        tid: 999_999,
        pidns,
        mntns: 4026532000,
        ipcns: 4026532001,
        ..Origin::ZERO
    }
}

#[test]
fn cgroup2_only_path_forms() {
    let dirs = [
        format!("/system.slice/docker-{ID}.scope"),
        format!("/machine.slice/libpod-{ID}.scope/container"),
        format!(
            "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/cri-containerd-{ID}.scope"
        ),
        "/user.slice/user-0.slice/session-1.scope".to_string(),
    ];
    let (root, ids) = tree("v2", &dirs);
    let mut a = attributor(root.clone());
    let own = a.own_pidns.unwrap() as u32;
    let runtimes: Vec<Option<String>> = ids
        .iter()
        .map(|&id| {
            a.container_of_origin(&origin(id, own + 1), 999_999)
                .map(|c| c.runtime)
        })
        .collect();
    assert_eq!(
        runtimes[..3],
        [
            Some("docker".into()),
            Some("podman".into()),
            Some("containerd".into())
        ]
    );
    // A host cgroup, in a foreign pid namespace: the pid namespace still marks a container.
    let c = a
        .container_of_origin(&origin(ids[3], own + 1), 999_999)
        .unwrap();
    assert_eq!(c.id, format!("pidns:{}", own + 1));
    // A host cgroup in our own pid namespace: a host process.
    assert_eq!(a.container_of_origin(&origin(ids[3], own), 999_999), None);
    // Known after its cgroup is gone.
    fs::remove_dir_all(&root).unwrap();
    let c = a
        .container_of_origin(&origin(ids[0], own + 1), 999_999)
        .unwrap();
    assert_eq!((c.id.as_str(), c.runtime.as_str()), (ID, "docker"));
}

#[test]
fn hybrid_unified_path_and_birth_records() {
    // runc with the cgroupfs driver on a hybrid host: /docker/<id> in the unified hierarchy.
    let (root, ids) = tree("hybrid", &[format!("/docker/{ID}")]);
    let mut a = attributor(root.clone());
    let c = a.container_of_origin(&origin(ids[0], 1), 0).unwrap();
    assert_eq!(c.id, ID);
    assert_eq!(a.cgroup_ids_of(ID), vec![ids[0]]);
    // A cgroup born and removed between two drains: its cgroup_mkdir record is enough.
    a.cgroups.learn(77, &format!("/docker/{ID}/sub"));
    fs::remove_dir_all(&root).unwrap();
    assert_eq!(a.container_of_origin(&origin(77, 1), 0).unwrap().id, ID);
}
