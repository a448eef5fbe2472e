//! overlay in real Docker containers: a long-lived one, one-shot `docker exec`s, a container that
//! copies up and exits at once, and a classic-builder `docker build` step. The oracle of each
//! copy-up is the container's upper directory.

use std::{process::Command, time::Duration};

use serde_json::Value;
use tests::{Tracer, docker::Docker, root};

/// The copy-up of `path` in `report`'s group for container `id`, or a panic with the report.
fn copy_up_of<'a>(report: &'a Value, id: &str, path: &str) -> &'a Value {
    let g = report["overlay"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["container_id"] == id)
        .unwrap_or_else(|| panic!("nothing attributed to {id}: {report:#}"));
    g["largest"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["path"] == path)
        .unwrap_or_else(|| panic!("no copy-up of {path}: {g:#}"))
}

#[test]
fn container_copy_up_is_attributed() {
    if !root() {
        return;
    }
    const NAME: &str = "ctrace-test-overlay";
    let docker = Docker::start();
    let tracer = Tracer::start(&["trace", "overlay", "--json", "--interval", "500ms"]);
    let id = docker.run(
        NAME,
        &[],
        &["sh", "-c", "chmod 700 /bin/busybox; sleep 3600"],
    );
    std::thread::sleep(Duration::from_millis(1500));
    let report = tracer.stop_json();
    docker.rm(NAME);
    let g = report["overlay"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["container_id"] == id.as_str())
        .unwrap_or_else(|| panic!("no copy-up attributed to {NAME}: {report:#}"));
    assert_eq!(g["container_name"], NAME);
    let c = &g["largest"][0];
    assert_eq!(
        c["path"], "/bin/busybox",
        "the path as the container sees it"
    );
    assert_eq!(c["trigger"], "chmod");
    assert!(c["size"].as_u64().unwrap() > 100_000);
}

/// One-shot `docker exec`s, gone before ctrace drains them: resolved against the container's
/// mount namespace (from the kernel's origin header), attributed by name, sized by the upperdir.
#[test]
fn one_shot_docker_exec_copy_up_and_exdev_are_reported() {
    if !root() {
        return;
    }
    const NAME: &str = "ctrace-test-overlay-exec";
    let docker = Docker::start();
    let id = docker.run(NAME, &[], &["sleep", "3600"]);
    let tracer = Tracer::start(&[
        "trace",
        "overlay",
        "--json",
        "--interval",
        "500ms",
        "--container",
        NAME,
    ]);
    // mv's own fallback (copy and delete) may fail here; its rename(2) is what counts. The
    // second chmod, of a file already copied up, is the negative control; the last chmod
    // leaves busybox, every applet, not executable.
    for (cmd, must) in [
        (&["mv", "/tmp", "/tmp2"][..], false),
        (&["chmod", "700", "/bin/busybox"], true),
        (&["chmod", "600", "/bin/busybox"], true),
    ] {
        let out = Command::new("docker")
            .args(["exec", NAME])
            .args(cmd)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() || !must, "docker exec {cmd:?}: {err}");
    }
    std::thread::sleep(Duration::from_millis(1200));
    let report = tracer.stop_json();
    let upper = docker.upper_dir(NAME);
    let copied = std::fs::metadata(format!("{upper}/bin/busybox"));
    docker.rm(NAME);
    let c = copy_up_of(&report, &id, "/bin/busybox");
    assert_eq!(c["trigger"], "chmod");
    let ups = report["overlay"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["largest"].as_array().unwrap())
        .filter(|c| c["path"] == "/bin/busybox")
        .count();
    assert_eq!(ups, 1, "a second chmod is no copy-up: {report:#}");
    // The oracle: the copy in the container's upperdir.
    assert_eq!(c["size"].as_u64().unwrap(), copied.unwrap().len());
    let e = report["overlay"]["exdev"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["source"] == "/tmp")
        .unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(e["target"], "/tmp2");
    assert_eq!(e["same_mount"], true);
    assert_eq!(e["source_is_lower_dir"], true);
    let f = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "overlay_exdev_rename")
        .unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(f["subject"]["container_name"], NAME);
}

/// A container whose only command copies up a lower file: by the drain its mount namespace is
/// gone, never read. The call is resolved against the overlay at its root (the kernel's device
/// of the task's root, matched to the host's mount table while the overlay was mounted).
#[test]
fn a_container_that_copies_up_and_exits_at_once_is_reported_by_name() {
    if !root() {
        return;
    }
    const NAME: &str = "ctrace-test-overlay-at-once";
    let docker = Docker::start();
    docker.rm(NAME);
    let tracer = Tracer::start(&["trace", "overlay", "--json", "--interval", "500ms"]);
    docker.run_attached(NAME, &[], &["chmod", "700", "/bin/busybox"]);
    let id = docker.id(NAME);
    std::thread::sleep(Duration::from_millis(1200));
    let report = tracer.stop_json();
    let copied = std::fs::metadata(format!("{}/bin/busybox", docker.upper_dir(NAME)));
    docker.rm(NAME);
    let c = copy_up_of(&report, &id, "/bin/busybox");
    assert_eq!(c["trigger"], "chmod");
    assert_eq!(c["size"].as_u64().unwrap(), copied.unwrap().len());
    let g = report["overlay"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["container_id"] == id.as_str())
        .unwrap();
    assert_eq!(g["container_name"], NAME, "{g:#}");
}

/// A `RUN` step of the classic builder (`DOCKER_BUILDKIT=0`, no network needed) runs in a
/// container that is committed and removed at once. Its copy-up is reported; the oracle is the
/// step's layer in the image. The step that only creates a file is the negative control.
#[test]
fn a_docker_build_step_that_copies_up_is_reported() {
    if !root() {
        return;
    }
    const TAG: &str = "ctrace-test-build:step";
    let docker = Docker::start();
    let ctx = tests::scratch_dir().join("overlay-build");
    let _ = std::fs::remove_dir_all(&ctx);
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        format!(
            "FROM {}\nRUN echo new > /new-file\nRUN chmod 700 /bin/busybox\n",
            tests::docker::IMAGE
        ),
    )
    .unwrap();
    let _ = Command::new("docker").args(["rmi", "-f", TAG]).output();
    let tracer = Tracer::start(&["trace", "overlay", "--json", "--interval", "500ms"]);
    let out = Command::new("docker")
        .args(["build", "--no-cache", "--network", "none", "-t", TAG])
        .arg(&ctx)
        .env("DOCKER_BUILDKIT", "0")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "docker build: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::thread::sleep(Duration::from_millis(1200));
    let report = tracer.stop_json();
    // The oracle: busybox in the image's top layer (the chmod step's).
    let layer = docker.upper_dir(TAG);
    let copied = std::fs::metadata(format!("{layer}/bin/busybox")).map(|m| m.len());
    let _ = Command::new("docker").args(["rmi", "-f", TAG]).output();
    let groups = report["overlay"]["groups"].as_array().unwrap();
    let ups = |g: &Value| g["largest"].as_array().unwrap().clone();
    let g = groups
        .iter()
        .find(|g| ups(g).iter().any(|c| c["path"] == "/bin/busybox"))
        .unwrap_or_else(|| panic!("the RUN step's copy-up is missing: {report:#}"));
    // The step's container, by its id (the builder names it at random).
    assert!(
        g["container_id"].as_str().is_some_and(|s| s.len() == 64),
        "{g:#}"
    );
    let c = copy_up_of(&report, g["container_id"].as_str().unwrap(), "/bin/busybox");
    assert_eq!(c["trigger"], "chmod");
    assert_eq!(c["size"].as_u64(), copied.ok(), "{c:#}");
    assert!(
        !groups
            .iter()
            .flat_map(ups)
            .any(|c| c["path"] == "/new-file"),
        "a new file is no copy-up: {report:#}"
    );
}
