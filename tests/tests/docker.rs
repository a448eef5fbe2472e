//! Real Docker: two containers, one under Docker's default seccomp profile and one unconfined,
//! each attributed to its own id and name with its seccomp mode.

use std::{process::Command, time::Duration};

use tests::{Tracer, docker::Docker, root};

const DEFAULT: &str = "ctrace-test-seccomp-default";
const UNCONFINED: &str = "ctrace-test-seccomp-unconfined";
/// A long-lived PID 1 that keeps making syscalls (and forking `sleep`).
const BUSY: [&str; 3] = [
    "sh",
    "-c",
    "while true; do cat /proc/self/status >/dev/null; sleep 0.05; done",
];

#[test]
fn attributes_containers_with_their_seccomp_mode() {
    if !root() {
        return;
    }
    let docker = Docker::start();
    let id_default = docker.run(DEFAULT, &[], &BUSY);
    let id_unconfined = docker.run(UNCONFINED, &["--security-opt", "seccomp=unconfined"], &BUSY);
    std::thread::sleep(Duration::from_millis(500));

    let mut tracer = Tracer::start(&[
        "trace",
        "seccomp",
        "--container",
        DEFAULT,
        "--container",
        &id_unconfined[..12],
        "--duration",
        "3s",
        "--json",
        "--top",
        "20",
    ]);
    let report = tracer.finish_json();
    docker.rm(DEFAULT);
    docker.rm(UNCONFINED);

    let containers = report["seccomp"]["containers"].as_array().unwrap();
    let find = |id: &str| {
        containers
            .iter()
            .find(|c| c["container_id"] == id)
            .unwrap_or_else(|| panic!("container {id} missing from {containers:#?}"))
    };
    let d = find(&id_default);
    assert_eq!(d["container_name"], DEFAULT);
    assert_eq!(d["seccomp_mode"], "filter");
    assert_eq!(d["runtime"], "docker");
    assert!(d["syscalls"].as_u64().unwrap() > 0);
    // What the filter costs is shown whether or not it raised a finding; no filter, no cost.
    let cost = &d["cost"];
    assert!(cost["ns_per_syscall"].as_f64().is_some(), "{d:#}");
    assert!(cost["ms_lost_per_s"].as_f64().unwrap() >= 0.0, "{d:#}");
    let u = find(&id_unconfined);
    assert_eq!(u["container_name"], UNCONFINED);
    assert_eq!(u["seccomp_mode"], "disabled");
    assert!(u.get("cost").is_none(), "{u:#}");
    assert_eq!(
        containers.len(),
        2,
        "only the two selected containers: {containers:#?}"
    );
    // Every traced process belongs to one of them.
    for p in report["seccomp"]["processes"].as_array().unwrap() {
        if p["comm"] != "?" {
            let id = p["container_id"].as_str().unwrap_or("");
            assert!(id == id_default || id == id_unconfined, "stray process {p}");
        }
    }
    // Sanity: the ids are what docker says.
    let out = Command::new("docker")
        .args(["inspect", "-f", "{{.Id}}", UNCONFINED])
        .output()
        .unwrap();
    assert!(!out.status.success() || String::from_utf8_lossy(&out.stdout).trim() == id_unconfined);
}
