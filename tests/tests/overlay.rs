//! overlay on the real kernel: real overlay mounts, real copy-ups, a real EXDEV rename
//! (containers: overlay_docker.rs).

use std::{process::Command, time::Duration};

use serde_json::Value;
use tests::{Gated, Tracer, overlay::Mount, root};

/// The tests' overlay: a 4 MiB file, small ones and a lower directory.
fn overlay(name: &str, extra_opts: &str) -> Mount {
    Mount::new(name, extra_opts, |lower| {
        std::fs::create_dir_all(lower.join("dir1")).unwrap();
        std::fs::write(lower.join("big"), vec![7u8; 4 << 20]).unwrap();
        std::fs::write(lower.join("small"), b"s").unwrap();
        std::fs::write(lower.join("early"), b"e").unwrap();
        std::fs::write(lower.join("outsider"), b"o").unwrap();
        std::fs::write(lower.join("dir1/f"), b"f").unwrap();
    })
}

fn sh(cmd: &str) {
    assert!(
        Command::new("sh")
            .args(["-c", cmd])
            .status()
            .unwrap()
            .success(),
        "{cmd}"
    );
}

fn copy_ups(report: &Value) -> Vec<&Value> {
    report["overlay"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["largest"].as_array().unwrap().iter())
        .collect()
}

#[test]
fn copy_ups_are_proven_and_nothing_else_counts() {
    if !root() {
        return;
    }
    let o = overlay("copyup", "");
    // Copied up before ctrace starts: a later write is no copy-up.
    sh(&format!("echo x >> {}", o.merged("early")));
    // Only the gated shell and its children are traced: copy-ups by anything else on the node
    // (another test, a container) are not this test's to count.
    let work = Gated::new(&format!(
        "echo x >> {big}; echo y >> {big}; echo new > {created}; echo z >> {early}; chmod 600 {small}",
        big = o.merged("big"),
        created = o.merged("created"),
        early = o.merged("early"),
        small = o.merged("small"),
    ));
    let tracer = work.tracer(&["trace", "overlay", "--json", "--interval", "500ms"]);
    work.run();
    // A real copy-up on the same mount by a process outside the filter: it must not count.
    sh(&format!("chmod 600 {}", o.merged("outsider")));
    assert!(
        o.dir.join("upper/outsider").exists(),
        "the outsider was copied up"
    );
    std::thread::sleep(Duration::from_millis(400));
    let report = tracer.stop_json();

    let mut got: Vec<(String, String)> = copy_ups(&report)
        .iter()
        .map(|c| {
            (
                c["path"].as_str().unwrap().to_string(),
                c["trigger"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            (o.merged("big"), "open for write".to_string()),
            (o.merged("small"), "chmod".to_string())
        ],
        "{report:#}"
    );
    let big = copy_ups(&report)
        .into_iter()
        .find(|c| c["path"] == o.merged("big").as_str())
        .unwrap();
    assert!(big["size"].as_u64().unwrap() >= 4 << 20);
    assert!(big["latency_ns"].as_u64().unwrap() > 0);
    let f: Vec<&Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "overlay_copy_up")
        .collect();
    assert_eq!(f.len(), 1);
    assert_eq!(f[0]["evidence"]["count"], 2);
    assert_eq!(
        f[0]["evidence"]["largest"][0]["path"],
        o.merged("big").as_str()
    );
    assert!(f[0]["evidence"]["upper_free_bytes"].as_u64().unwrap() > 0);
    assert!(
        !report["overlay"]["latency_hist_ns"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    check_tiers(&report, &o);
}

/// In the kprobe tier both copy-ups are also timed in the kernel, inside their syscall's time;
/// in the tracepoint tier nothing claims to be.
fn check_tiers(report: &Value, o: &Mount) {
    let tier = tests::probe_tier(report, "overlay");
    assert_eq!(report["overlay"]["tier"], tier.as_str());
    let check = &report["overlay"]["tier_check"];
    if tier == "tracepoint" {
        assert!(check.is_null(), "{report:#}");
        assert!(copy_ups(report).iter().all(|c| c["copy_up_ns"].is_null()));
        return;
    }
    assert_eq!(tier, "kprobe");
    assert_eq!(check["proven_and_timed"], 2, "{check:#}");
    assert_eq!(check["proven_not_timed"], 0, "{check:#}");
    assert!(check["kernel_copy_ups"].as_u64().unwrap() >= 2, "{check:#}");
    tests::record(&format!(
        "overlay tier check: {} copy-ups timed in traced calls, {} outside them, {} proven and timed, \
         {} proven but not timed, {} calls timed but not proven",
        check["kernel_copy_ups"],
        check["outside_traced_calls"],
        check["proven_and_timed"],
        check["proven_not_timed"],
        check["timed_not_proven"]
    ));
    for c in copy_ups(report) {
        let (sys, cu) = (
            c["latency_ns"].as_u64().unwrap(),
            c["copy_up_ns"].as_u64().unwrap(),
        );
        assert!(cu > 0 && cu <= sys, "{c:#}");
        let name = if c["path"] == o.merged("big").as_str() {
            "4 MiB open-for-write"
        } else {
            "1 B chmod"
        };
        tests::record(&format!(
            "overlay {name}: syscall {sys} ns (tracepoint tier), ovl_copy_up_one {cu} ns (kprobe tier), difference {} ns ({:.1}%)",
            sys - cu,
            (sys - cu) as f64 * 100.0 / sys as f64
        ));
    }
}

#[test]
fn renaming_a_lower_directory_fails_with_exdev() {
    if !root() {
        return;
    }
    let o = overlay("exdev", ",redirect_dir=off");
    // mv falls back to copying when rename fails with EXDEV.
    let work = Gated::new(&format!("mv {} {}", o.merged("dir1"), o.merged("dir2")));
    let tracer = work.tracer(&["trace", "overlay", "--json", "--interval", "500ms"]);
    work.run();
    std::thread::sleep(Duration::from_millis(400));
    let report = tracer.stop_json();
    let ex = report["overlay"]["exdev"].as_array().unwrap();
    let e = ex
        .iter()
        .find(|e| e["source"] == o.merged("dir1").as_str())
        .unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(e["target"], o.merged("dir2").as_str());
    assert_eq!(e["source_is_lower_dir"], true);
    assert!(e["redirect_dir_param"].is_string());
    let f = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "overlay_exdev_rename")
        .unwrap();
    assert!(
        f["remediation"]
            .as_str()
            .unwrap()
            .contains("redirect_dir=on")
    );
    assert_eq!(f["subject"]["comm"], "mv");
}

/// A process rooted in an overlay in a mount namespace of its own (as a container's first
/// process is) copies up and exits while ctrace is stopped: by the drain its namespace is gone,
/// never read. The call is resolved against the overlay at its root, by the device the kernel
/// read at the call; the upper directory is the oracle.
#[test]
fn a_namespace_gone_before_the_drain_is_resolved_by_its_root_overlay() {
    if !root() {
        return;
    }
    tests::apt_install_unless("test -x /bin/busybox", &["busybox-static"]);
    let o = Mount::new("gone-ns", "", tests::rootfs::busybox);
    let tracer = Tracer::start(&["trace", "overlay", "--json", "--interval", "500ms"]);
    // A few ticks: ctrace has looked at the host's mounts since the overlay was mounted.
    std::thread::sleep(Duration::from_millis(300));
    let ctrace = tracer.pid() as i32;
    unsafe { libc::kill(ctrace, libc::SIGSTOP) };
    let st = Command::new("unshare")
        .args(["--mount", "--root", &o.merged("")])
        .args(["/bin/chmod", "700", "/bin/busybox"])
        .status();
    unsafe { libc::kill(ctrace, libc::SIGCONT) };
    assert!(st.unwrap().success());
    std::thread::sleep(Duration::from_millis(800));
    let report = tracer.stop_json();
    let c = copy_ups(&report)
        .into_iter()
        .find(|c| c["path"] == "/bin/busybox")
        .unwrap_or_else(|| panic!("no copy-up of /bin/busybox: {report:#}"));
    assert_eq!(c["trigger"], "chmod");
    let copied = std::fs::metadata(o.upper("bin/busybox")).unwrap().len();
    assert_eq!(c["size"].as_u64(), Some(copied));
    assert_eq!(c["comm"], "chmod", "{c:#}");
}

/// dockerd's overlay2 start-up check, as it runs it: a scratch overlay under
/// `<home>/overlay2/opaque-bug-check*/merged` whose lower directory is renamed, EXDEV expected.
#[test]
fn an_engines_start_up_probe_is_no_finding() {
    if !root() {
        return;
    }
    let home = tests::scratch_dir().join(format!("ctrace-engine-probe-{}", std::process::id()));
    let td = home.join("overlay2/opaque-bug-check4242");
    for d in ["lower/d", "upper", "work", "merged"] {
        std::fs::create_dir_all(td.join(d)).unwrap();
    }
    let td = td.canonicalize().unwrap();
    let p = |s: &str| td.join(s).display().to_string();
    sh(&format!(
        "mount -t overlay overlay -o lowerdir={},upperdir={},workdir={},redirect_dir=off {}",
        p("lower"),
        p("upper"),
        p("work"),
        p("merged")
    ));
    let work = Gated::new(&format!("mv {} {}", p("merged/d"), p("merged/d2")));
    let tracer = work.tracer(&["trace", "overlay", "--json", "--interval", "500ms"]);
    work.run();
    std::thread::sleep(Duration::from_millis(400));
    let report = tracer.stop_json();
    let _ = Command::new("umount").arg(p("merged")).status();
    let _ = std::fs::remove_dir_all(&home);

    let source = p("merged/d");
    let e = report["overlay"]["exdev"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["source"] == source.as_str())
        .unwrap_or_else(|| panic!("the probe's rename was not seen: {report:#}"));
    assert_eq!(e["source_is_lower_dir"], true, "{e:#}");
    assert_eq!(e["engine_probe"], true, "{e:#}");
    let raised = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "overlay_exdev_rename")
        .any(|f| f.to_string().contains("opaque-bug-check4242"));
    assert!(!raised, "{report:#}");
}
