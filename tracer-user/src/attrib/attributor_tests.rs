use super::*;
use std::os::unix::fs::MetadataExt;

const ID: &str = "3f5a0c1e9b7d2468ace013579bdf02468ace13579bdf02468ace13579bdf0246";
const ID2: &str = "3f5a77771b7d2468ace013579bdf02468ace13579bdf02468ace13579bdf0246";

/// A fake /proc: `self` plus one directory per (pid, cgroup text, own pidns?).
fn fake_proc(tag: &str, procs: &[(u32, String, bool)]) -> PathBuf {
    let root = std::env::temp_dir().join(format!("ctrace-proc-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&root);
    fs::create_dir_all(root.join("self/ns")).unwrap();
    fs::write(root.join("self/ns/pid"), "").unwrap();
    fs::create_dir_all(root.join("notapid")).unwrap();
    for (pid, cgroup, host_ns) in procs {
        let dir = root.join(pid.to_string());
        fs::create_dir_all(dir.join("ns")).unwrap();
        fs::write(dir.join("cgroup"), cgroup).unwrap();
        if *host_ns {
            // A hard link shares the inode, like the same namespace does.
            fs::hard_link(root.join("self/ns/pid"), dir.join("ns/pid")).unwrap();
        } else {
            fs::write(dir.join("ns/pid"), "").unwrap();
        }
    }
    root
}

fn no_docker() -> PathBuf {
    PathBuf::from("/nonexistent/ctrace/docker.sock")
}

fn standard(tag: &str) -> PathBuf {
    fake_proc(
        tag,
        &[
            (100, format!("4:memory:/docker/{ID}\n0::/\n"), false),
            (
                101,
                "0::/user.slice/user-1000.slice/session-1.scope\n".into(),
                true,
            ),
            (102, "0::/\n".into(), false),
            (103, format!("0::/system.slice/docker-{ID}.scope\n"), false),
            (104, format!("0::/kubepods/burstable/pod1/{ID2}\n"), false),
        ],
    )
}

fn ino(path: PathBuf) -> u64 {
    fs::metadata(path).unwrap().ino()
}

#[test]
fn container_of_each_kind() {
    let root = standard("kinds");
    let mut attrib = Attributor::with_paths(root.clone(), no_docker());
    let docker = attrib.container_of(100).unwrap();
    assert_eq!(
        (docker.id.as_str(), docker.runtime.as_str()),
        (ID, "docker")
    );
    assert_eq!(docker.name, None);
    assert!(attrib.container_of(101).is_none());
    let pidns = attrib.container_of(102).unwrap();
    assert_eq!(pidns.id, format!("pidns:{}", ino(root.join("102/ns/pid"))));
    assert_eq!(pidns.runtime, "pidns");
    assert_eq!(attrib.container_of(104).unwrap().runtime, "kubernetes");
    assert!(attrib.container_of(999).is_none());
    assert!(
        !attrib.cache.contains_key(&999),
        "vanished pids are not cached"
    );
    fs::remove_dir_all(root).unwrap();
}

#[test]
fn cache_and_forget() {
    let root = standard("cache");
    let mut attrib = Attributor::with_paths(root.clone(), no_docker());
    assert!(attrib.container_of(100).is_some());
    assert!(attrib.container_of(101).is_none());
    fs::remove_dir_all(root.join("100")).unwrap();
    assert_eq!(
        attrib.container_of(100).unwrap().id,
        ID,
        "served from cache"
    );
    attrib.forget(100);
    assert!(attrib.container_of(100).is_none());
    fs::remove_dir_all(root).unwrap();
}

#[test]
fn docker_name_is_attached() {
    let web = docker::tests::WEB;
    let root = fake_proc("named", &[(200, format!("0::/docker/{web}\n"), false)]);
    let mut attrib = Attributor::with_paths(root.clone(), no_docker());
    attrib.docker = docker::tests::listed();
    let c = attrib.container_of(200).unwrap();
    assert_eq!(c.name.as_deref(), Some("web"));
    assert_eq!(attrib.resolve_container("web").unwrap(), web);
    fs::remove_dir_all(root).unwrap();
}

#[test]
fn pids_in_container_scans_proc() {
    let root = standard("pids");
    let mut attrib = Attributor::with_paths(root.clone(), no_docker());
    assert_eq!(attrib.pids_in_container(ID), vec![100, 103]);
    assert_eq!(attrib.pids_in_container(ID2), vec![104]);
    let pidns = format!("pidns:{}", ino(root.join("102/ns/pid")));
    assert_eq!(attrib.pids_in_container(&pidns), vec![102]);
    assert!(attrib.pids_in_container("nope").is_empty());
    fs::remove_dir_all(root).unwrap();
}

#[test]
fn resolve_without_docker() {
    let root = standard("resolve");
    let mut attrib = Attributor::with_paths(root.clone(), no_docker());
    assert_eq!(attrib.resolve_container(ID).unwrap(), ID);
    assert_eq!(attrib.resolve_container("3f5a0c").unwrap(), ID);
    assert_eq!(attrib.resolve_container("3F5A77").unwrap(), ID2);
    let pidns = format!("pidns:{}", ino(root.join("102/ns/pid")));
    assert_eq!(attrib.resolve_container(&pidns).unwrap(), pidns);
    let err = attrib.resolve_container("3f5a").unwrap_err();
    assert!(err.to_string().contains("ambiguous"), "{err}");
    for arg in ["web", "pidns:1", "", "deadbeef"] {
        let err = attrib.resolve_container(arg).unwrap_err();
        assert_eq!(err.to_string(), format!("unknown container: {arg}"));
        assert!(err.is::<crate::out::Usage>(), "{arg}: exit 2");
    }
    let err = attrib.resolve_container("3f5").unwrap_err();
    assert!(err.is::<crate::out::Usage>(), "{err}");
    assert!(err.to_string().contains("at least 4 characters"), "{err}");
    fs::remove_dir_all(root).unwrap();
}

#[test]
fn real_proc_degrades_gracefully() {
    // Whatever this host runs, our own process must be attributable
    // without errors, and a missing docker socket yields no names.
    let mut attrib = Attributor::with_paths(PathBuf::from("/proc"), no_docker());
    let own = attrib.container_of(std::process::id());
    assert!(own.is_none_or(|c| c.runtime != "pidns"));
    assert!(attrib.container_of(u32::MAX).is_none());
    let _ = cgroup::cgroup_layout().name();
}
