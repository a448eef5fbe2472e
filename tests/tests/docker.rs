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

const LATE: &str = "ctrace-test-late";
const BRIEF: &str = "ctrace-test-brief";

/// Containers Docker creates after ctrace started are named from Docker's event stream by the
/// time their first processes are attributed (seccomp keeps the first answer), and one that
/// exits at once and is removed before the report keeps its name.
#[test]
fn containers_started_later_are_named_from_the_event_stream() {
    if !root() {
        return;
    }
    let docker = Docker::start();
    docker.rm(LATE);
    docker.rm(BRIEF);
    let mut tracer = Tracer::start_with(
        &[
            "trace",
            "seccomp",
            "--duration",
            "6s",
            "--json",
            "--top",
            "50",
        ],
        &[("RUST_LOG", "ctrace::attrib=debug,warn")],
    );
    let late = docker.run(LATE, &[], &BUSY);
    // A few hundred syscalls over about half a second, then gone: `--rm` removes it.
    let brief = docker.run(
        BRIEF,
        &["--rm"],
        &[
            "sh",
            "-c",
            "for i in 1 2 3 4 5 6 7 8 9 10; do cat /proc/self/status >/dev/null; sleep 0.05; done",
        ],
    );
    let report = tracer.finish_json();
    docker.rm(LATE);
    // The oracle: Docker itself no longer knows the brief one.
    assert!(
        !Command::new("docker")
            .args(["inspect", BRIEF])
            .output()
            .unwrap()
            .status
            .success(),
        "{BRIEF} should be gone"
    );

    let containers = report["seccomp"]["containers"].as_array().unwrap();
    for (id, name) in [(&late, LATE), (&brief, BRIEF)] {
        let c = containers
            .iter()
            .find(|c| c["container_id"] == id.as_str())
            .unwrap_or_else(|| panic!("{name} ({id}) missing from {containers:#?}"));
        assert_eq!(c["container_name"], name, "{c:#}");
        assert_eq!(c["runtime"], "docker", "{c:#}");
        // From the stream's create event, not a fallback inspect.
        let from_event = format!("{id} is Some({name:?}) (create event)");
        assert!(
            tracer.stderr.iter().any(|l| l.contains(&from_event)),
            "no {from_event:?} in {:#?}",
            tracer.stderr
        );
        assert!(
            !tracer
                .stderr
                .iter()
                .any(|l| l.contains(&format!("{id} is Some")) && l.contains("inspected")),
            "{:#?}",
            tracer.stderr
        );
    }
}

const AT_ONCE: &str = "ctrace-test-at-once";

/// A container that exits at once (its `yes` killed by SIGPIPE within milliseconds, the
/// container removed by `--rm`) is still named in the finding: its cgroup is learned when it is
/// made, and Docker's create event named it before that.
#[test]
fn a_container_that_exits_at_once_is_named() {
    if !root() {
        return;
    }
    let docker = Docker::start();
    docker.rm(AT_ONCE);
    let tracer = Tracer::start(&[
        "trace",
        "sigpipe",
        "--comm",
        "yes",
        "--json",
        "--interval",
        "500ms",
    ]);
    docker.run_attached(
        AT_ONCE,
        &["--rm"],
        &["sh", "-c", "yes | head -c 1 >/dev/null"],
    );
    std::thread::sleep(Duration::from_millis(1500));
    let report = tracer.stop_json();
    let findings: Vec<&serde_json::Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "sigpipe_delivered" && f["subject"]["comm"] == "yes")
        .collect();
    assert_eq!(findings.len(), 1, "{report:#}");
    let s = &findings[0]["subject"];
    assert_eq!(s["container_name"], AT_ONCE, "{s:#}");
    assert_eq!(s["runtime"], "docker", "{s:#}");
    assert_eq!(findings[0]["evidence"]["died"], true, "{:#}", findings[0]);
}

/// doctor says why it can't read Docker's names: no socket, or a socket nobody listens on (what
/// a dockerd that died leaves behind); with the harness's dockerd running it says it can.
#[test]
fn doctor_says_why_docker_names_are_unavailable() {
    if !root() {
        return;
    }
    let names_docker = |docker_host: &str| {
        let out = Command::new(tests::ctrace_bin())
            .args(["doctor", "--json"])
            .env("DOCKER_HOST", docker_host)
            .output()
            .unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
        doc["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "names_docker")
            .cloned()
    };
    let c = names_docker("unix:///nonexistent/ctrace/docker.sock").expect("a names_docker line");
    assert_eq!(c["status"], "warn", "{c:#}");
    assert!(
        c["detail"]
            .as_str()
            .unwrap()
            .starts_with("no socket at /nonexistent/ctrace/docker.sock"),
        "{c:#}"
    );
    let dead = tests::scratch_dir().join("dead-docker.sock");
    let _ = std::fs::remove_file(&dead);
    drop(std::os::unix::net::UnixListener::bind(&dead).unwrap());
    let c = names_docker(&format!("unix://{}", dead.display())).expect("a names_docker line");
    assert_eq!(c["status"], "warn", "{c:#}");
    let detail = c["detail"].as_str().unwrap();
    assert!(
        detail.contains("connection refused (dockerd is not running)"),
        "{c:#}"
    );
    std::fs::remove_file(&dead).unwrap();

    let docker = Docker::start();
    let c = names_docker("unix:///var/run/docker.sock").expect("a names_docker line");
    assert_eq!(c["status"], "ok", "{c:#}");
    let server = Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
        .unwrap();
    let version = String::from_utf8_lossy(&server.stdout).trim().to_string();
    assert!(
        c["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("Docker {version} ")),
        "{c:#} vs docker version {version}"
    );
    drop(docker);
}
