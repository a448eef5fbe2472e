//! pid1_signal_dropped on real Docker: `docker stop` of a container whose PID 1 has no SIGTERM
//! handler, against the same container under `--init`.

use std::time::Duration;

use serde_json::Value;
use tests::{Tracer, docker::Docker, root};

/// `docker stop -t SECS NAME`, timed: the oracle for how long the stop waited.
fn docker_stop(name: &str, secs: u32) -> f64 {
    let t = std::time::Instant::now();
    let ok = std::process::Command::new("docker")
        .args(["stop", "-t", &secs.to_string(), name])
        .output()
        .unwrap()
        .status
        .success();
    assert!(ok, "docker stop {name}");
    t.elapsed().as_secs_f64()
}

#[test]
fn docker_stop_of_a_pid1_without_a_sigterm_handler() {
    if !root() {
        return;
    }
    const BARE: &str = "ctrace-test-zombie-stop-bare";
    const INIT: &str = "ctrace-test-zombie-stop-init";
    let docker = Docker::start();
    // busybox sleep as PID 1 has no SIGTERM handler; under --init, docker-init forwards it.
    let bare = docker.run(BARE, &[], &["sleep", "3600"]);
    let init = docker.run(INIT, &["--init"], &["sleep", "3600"]);
    let tracer = Tracer::zombie();
    let bare_wait = docker_stop(BARE, 2);
    let init_wait = docker_stop(INIT, 2);
    std::thread::sleep(Duration::from_millis(700));
    let report = tracer.stop_json();
    docker.rm(BARE);
    docker.rm(INIT);

    // The oracle: the bare stop waited out its timeout, the --init one did not.
    assert!(bare_wait >= 2.0, "docker stop took {bare_wait}s");
    assert!(init_wait < 1.5, "docker stop --init took {init_wait}s");
    let dropped: Vec<&Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "pid1_signal_dropped")
        .collect();
    let of = |id: &str| -> Vec<&&Value> {
        dropped
            .iter()
            .filter(|f| f["subject"]["container_id"] == id)
            .collect()
    };
    assert!(of(&init).is_empty(), "--init container flagged: {report:#}");
    let f = of(&bare);
    assert_eq!(f.len(), 1, "{report:#}");
    let e = &f[0]["evidence"];
    assert_eq!(f[0]["subject"]["container_name"], BARE);
    assert_eq!(e["signal"], "SIGTERM");
    assert_eq!(e["comm"], "sleep");
    assert_eq!(e["handler"], "default");
    let waited = e["killed_after_s"].as_f64().expect("the SIGKILL was seen");
    assert!(
        (1.8..=bare_wait + 0.2).contains(&waited),
        "SIGKILL {waited}s after the SIGTERM; docker stop took {bare_wait}s"
    );
    assert!(f[0]["remediation"].as_str().unwrap().contains("--init"));
}
