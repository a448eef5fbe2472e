//! Evidence taken in the kernel at the event: a process that is gone by the time ctrace reads
//! its events is still attributed to its container, by name, from the cgroup id and mount
//! namespace the kernel put in the event; `--container` filters in the kernel from a process's
//! first syscall in the container. (One-shot `docker exec` copy-ups: overlay_docker.rs.)

use std::{process::Command, time::Duration};

use tests::{Tracer, docker::Docker, root};

fn docker_exec(name: &str, cmd: &[&str]) {
    let st = Command::new("docker")
        .args(["exec", name])
        .args(cmd)
        .status()
        .unwrap();
    assert!(st.success(), "docker exec {name} {cmd:?}");
}

/// A process exec'd into the container joins no traced process's fork tree, and a refresh of
/// the container's pids comes only each interval: the kernel's cgroup filter sees it at once.
/// It is gone before ctrace looks: its container and seccomp mode are the kernel's record.
#[test]
fn container_filter_takes_an_exec_from_its_first_syscall() {
    if !root() {
        return;
    }
    const NAME: &str = "ctrace-test-evidence-filter";
    let docker = Docker::start();
    let id = docker.run(NAME, &[], &["sleep", "3600"]);
    // An interval longer than the run: no refresh of the pid filter happens.
    let tracer = Tracer::start(&[
        "trace",
        "seccomp",
        "--container",
        NAME,
        "--json",
        "--interval",
        "30s",
        "--duration",
        "4s",
        "--top",
        "50",
    ]);
    std::thread::sleep(Duration::from_millis(1000));
    docker_exec(NAME, &["cat", "/proc/self/status"]);
    let report = tracer.stop_json();
    docker.rm(NAME);
    let procs = report["seccomp"]["processes"].as_array().unwrap();
    let cat = procs
        .iter()
        .find(|p| p["comm"] == "cat")
        .unwrap_or_else(|| panic!("the exec'd cat is missing: {procs:#?}"));
    assert_eq!(cat["container_id"], id.as_str(), "{cat:#}");
    assert_eq!(cat["container_name"], NAME, "{cat:#}");
    // Gone before /proc was read: the mode the kernel read after its execve (runc installs
    // Docker's default filter just before it execs).
    assert_eq!(cat["seccomp_mode"], "filter", "{cat:#}");
    assert!(cat["seccomp_filters"].as_u64().unwrap() >= 1, "{cat:#}");
    // Negative control: nothing outside the container is traced.
    for p in procs {
        if p["comm"] != "?" {
            assert_eq!(p["container_id"], id.as_str(), "stray process {p}");
        }
    }
}

/// runc's order, made slow: a process lives unfiltered past a drain (named then, mode
/// `disabled`), installs a filter and execs. It is reported by its new name and mode, as a
/// container's command is, not as the `runc:[2:INIT]` it was at first sight.
#[test]
fn a_process_named_before_its_execve_is_named_again() {
    if !root() {
        return;
    }
    let tracer = Tracer::start(&[
        "trace",
        "seccomp",
        "--json",
        "--duration",
        "4s",
        "--top",
        "1000",
    ]);
    std::thread::sleep(Duration::from_millis(1000));
    // 600 ms: two drains (every 250 ms) see it before the execve.
    let mut child = Command::new(env!("CARGO_BIN_EXE_seccomp-helper"))
        .args(["exec", "600", "/bin/cat", "/proc/self/status"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    assert!(child.wait().unwrap().success());
    let report = tracer.stop_json();
    let procs = report["seccomp"]["processes"].as_array().unwrap();
    let p = procs
        .iter()
        .find(|p| p["pid"] == pid)
        .unwrap_or_else(|| panic!("pid {pid} is missing: {procs:#?}"));
    assert_eq!(p["comm"], "cat", "{p:#}");
    assert_eq!(p["seccomp_mode"], "filter", "{p:#}");
    assert_eq!(p["seccomp_filters"], 1, "{p:#}");
    // Its own pid only: other tests of this binary run seccomp-helpers of their own.
    let me = procs
        .iter()
        .find(|p| p["pid"] == pid && p["comm"] == "seccomp-helper");
    assert!(
        me.is_none(),
        "the helper's name outlived its execve: {me:?}"
    );
}

/// The same in `--sampled` mode, which has no syscall probe: samples taken before the execve
/// name the process unfiltered; the exec's record makes the sampler read it again, so its row
/// says `filter`, as /proc does.
#[test]
fn a_sampled_process_is_read_again_after_its_execve() {
    if !root() {
        return;
    }
    let helper = env!("CARGO_BIN_EXE_seccomp-helper");
    // 1.5 s on the CPU unfiltered (six drains), then a filter and a shell loop under it. The
    // gated shell execs the helper: no other process of its tree takes a sample.
    let script = format!(
        "exec {helper} exec-spin 1500 /bin/sh -c 'i=0; while [ $i -lt 400000 ]; do i=$((i+1)); done'"
    );
    let gated = tests::Gated::new(&script);
    let tracer = gated.tracer(&["trace", "seccomp", "--sampled", "--json"]);
    gated.run();
    let report = tracer.stop_json();
    let rows = report["seccomp"]["sampled"]["containers"]
        .as_array()
        .unwrap();
    // Only the gated shell's pid is sampled: the helper, then the loop.
    let host = rows
        .iter()
        .find(|r| r["container_id"].is_null())
        .unwrap_or_else(|| panic!("no host row: {rows:#?}"));
    assert!(host["samples"]["total"].as_u64().unwrap() > 0, "{host:#}");
    assert_eq!(host["seccomp_mode"], "filter", "{host:#}");
}

/// `--sampled` sees a filter's cost where the kernel keeps the slow-path flag: in
/// `thread_info.syscall_work` from 5.11, in its TIF flags before (5.10 reported 0.00 ms/s for a
/// filtered process). A getppid loop under a filter costs samples in the seccomp path; the
/// same helper spinning unfiltered (the negative control) costs none.
#[test]
fn a_filtered_loop_costs_sampled_seccomp_time_and_an_unfiltered_one_none() {
    if !root() {
        return;
    }
    let helper = env!("CARGO_BIN_EXE_seccomp-helper");
    let sampled = |args: &[&str]| {
        // Its "filtered" line would land inside libtest's own.
        let mut child = Command::new(helper)
            .args(args)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let pid = child.id().to_string();
        let tracer = Tracer::start(&["trace", "seccomp", "--sampled", "--pid", &pid, "--json"]);
        std::thread::sleep(Duration::from_secs(3));
        let report = tracer.stop_json();
        let _ = child.kill();
        let _ = child.wait();
        let rows = report["seccomp"]["sampled"]["containers"]
            .as_array()
            .unwrap()
            .clone();
        rows.into_iter()
            .find(|r| r["container_id"].is_null())
            .unwrap_or_else(|| panic!("no host row: {report:#}"))
    };
    let filtered = sampled(&[]);
    let spinning = sampled(&["exec-spin", "60000", "/bin/true"]);
    tests::record(&format!(
        "sampled: filtered loop {} of {} samples in the filter, {} ms/s; unfiltered spin {} of {}",
        filtered["samples"]["filter"],
        filtered["samples"]["total"],
        filtered["seccomp"]["ms_per_s"],
        spinning["samples"]["filter"],
        spinning["samples"]["total"],
    ));
    assert_eq!(filtered["seccomp_mode"], "filter", "{filtered:#}");
    assert!(
        filtered["samples"]["filter"].as_u64().unwrap() > 0,
        "{filtered:#}"
    );
    assert!(
        filtered["seccomp"]["ms_per_s"].as_f64().unwrap() > 0.0,
        "{filtered:#}"
    );
    assert!(
        spinning["samples"]["total"].as_u64().unwrap() > 0,
        "{spinning:#}"
    );
    assert_eq!(spinning["samples"]["filter"], 0, "{spinning:#}");
    assert_eq!(spinning["samples"]["slow_path"], 0, "{spinning:#}");
}

/// `--sampled` keeps every exec record (its exec map was one entry: 10 to 230 drops a run).
#[test]
fn sampled_mode_keeps_every_exec_record() {
    if !root() {
        return;
    }
    let gated = tests::Gated::new("for i in $(seq 200); do /bin/true; done");
    let tracer = gated.tracer(&[
        "trace",
        "seccomp",
        "--sampled",
        "--json",
        "--interval",
        "500ms",
    ]);
    gated.run();
    std::thread::sleep(Duration::from_millis(600));
    let report = tracer.stop_json();
    assert_eq!(
        report["drops"]["seccomp"], 0,
        "{:#}",
        report["drop_reasons"]
    );
}

/// `serve` drains the same events: a one-shot exec's copy-up is filed under the container's
/// name, not `pidns:` or the host.
#[test]
fn serve_attributes_a_dead_process_by_name() {
    if !root() {
        return;
    }
    const NAME: &str = "ctrace-test-evidence-serve";
    let docker = Docker::start();
    let id = docker.run(NAME, &[], &["sleep", "3600"]);
    let agent = tests::serve::Agent::start("evidence-serve", &["overlay", "--interval", "300ms"]);
    docker_exec(NAME, &["chmod", "700", "/bin/busybox"]);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let found =
        loop {
            let lines = agent.findings_lines();
            if let Some(f) = lines.iter().map(|l| &l["finding"]).find(|f| {
                f["kind"] == "overlay_copy_up" && f["subject"]["container_id"] == id.as_str()
            }) {
                break f.clone();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no copy-up of {NAME} in the stream: {lines:#?}"
            );
            std::thread::sleep(Duration::from_millis(250));
        };
    drop(agent);
    docker.rm(NAME);
    assert_eq!(found["subject"]["container_name"], NAME, "{found:#}");
    assert_eq!(found["subject"]["runtime"], "docker", "{found:#}");
}
