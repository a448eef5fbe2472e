//! Containers of every runtime by name: a Kubernetes container run by a second containerd in
//! its `k8s.io` namespace with the CRI annotations, and a podman container, each making
//! zombies under its PID 1; the finding names them.

use std::time::Duration;

use serde_json::Value;
use tests::{Tracer, containerd::Containerd, podman::Podman, root, serve::Agent};

/// PID 1 leaves two orphans that exit unreaped after 0.3 s, then sleeps without reaping.
const ZOMBIES: [&str; 3] = ["sh", "-c", "(sleep 0.3 &); (sleep 0.3 &); exec sleep 3600"];

fn finding_of(report: &Value, container_id: &str) -> Value {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| {
            f["kind"] == "zombie_accumulation" && f["subject"]["container_id"] == container_id
        })
        .unwrap_or_else(|| panic!("no zombie finding for {container_id}: {report:#}"))
        .clone()
}

#[test]
fn containerd_kubernetes_container_is_named_by_pod_namespace_and_container() {
    if !root() {
        return;
    }
    // Kubernetes ids are 64 hex characters; the cgroup path is /k8s.io/<id>.
    let id = "c7a1e0d2b3f4a5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e";
    let mut ctd = Containerd::start();
    let tracer = Tracer::zombie();
    ctd.run(
        id,
        &[
            ("io.kubernetes.cri.container-type", "container"),
            ("io.kubernetes.cri.container-name", "reaper"),
            ("io.kubernetes.cri.sandbox-name", "ctrace-test-pod"),
            ("io.kubernetes.cri.sandbox-namespace", "ctrace-test-ns"),
        ],
        &ZOMBIES,
    );
    let pid1 = ctd.pid(id);
    std::thread::sleep(Duration::from_millis(2500));
    let report = tracer.stop_json();
    ctd.remove(id);

    let f = finding_of(&report, id);
    let s = &f["subject"];
    assert_eq!(f["evidence"]["pid1_pid"], pid1, "{f:#}");
    assert_eq!(s["runtime"], "containerd", "{s:#}");
    assert_eq!(s["k8s_pod"], "ctrace-test-pod", "{s:#}");
    assert_eq!(s["k8s_namespace"], "ctrace-test-ns", "{s:#}");
    assert_eq!(s["k8s_container"], "reaper", "{s:#}");
    assert_eq!(s["container_name"], "reaper", "{s:#}");
    let g = report["zombie"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["container_id"] == id)
        .unwrap_or_else(|| panic!("no group for {id}: {report:#}"));
    assert_eq!(g["k8s_pod"], "ctrace-test-pod");
}

#[test]
fn serve_labels_kubernetes_containers_by_pod_namespace_and_container() {
    if !root() {
        return;
    }
    let id = "d8b2f1e3c4a5b6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1";
    let mut ctd = Containerd::start();
    let agent = Agent::start("runtimes", &["zombie", "--interval", "500ms"]);
    ctd.run(
        id,
        &[
            ("io.kubernetes.cri.container-name", "reaper"),
            ("io.kubernetes.cri.sandbox-name", "ctrace-serve-pod"),
            ("io.kubernetes.cri.sandbox-namespace", "ctrace-test-ns"),
        ],
        &ZOMBIES,
    );
    let series = format!(
        "ctrace_zombies{{container=\"reaper\",container_id=\"{}\",runtime=\"containerd\",\
         k8s_pod=\"ctrace-serve-pod\",k8s_namespace=\"ctrace-test-ns\",k8s_container=\"reaper\",",
        &id[..12]
    );
    let metrics = agent.wait_metrics(&series, Duration::from_secs(20), |m| {
        tests::serve::sample(m, &series).is_some_and(|n| n >= 2.0)
    });
    ctd.remove(id);
    assert!(!metrics.contains("exported_"), "{metrics}");
    assert!(agent.tracer.terminate().success());
}

#[test]
fn podman_container_is_named() {
    if !root() {
        return;
    }
    let name = "ctrace-test-podman-zombies";
    let mut podman = Podman::start();
    let tracer = Tracer::zombie();
    let id = podman.run(name, &ZOMBIES);
    std::thread::sleep(Duration::from_millis(2500));
    let report = tracer.stop_json();
    podman.rm(name);

    let f = finding_of(&report, &id);
    let s = &f["subject"];
    assert_eq!(s["container_name"], name, "{s:#}");
    assert_eq!(s["runtime"], "podman", "{s:#}");
    assert_eq!(s["k8s_pod"], Value::Null, "{s:#}");
}
