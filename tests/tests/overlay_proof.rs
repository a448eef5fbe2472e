//! overlay from facts captured in the kernel at the call: each class of call that can copy up
//! (path-based relative to the cwd, fd-based through the fd table, utimes, an O_TRUNC open), by
//! short-lived processes that are gone when ctrace drains; sizes checked against the layers; EXDEV
//! across mounts; hard links broken with index off; copy-ups that don't fit the upper filesystem.

use std::{os::unix::fs::MetadataExt, path::Path, time::Duration};

use serde_json::Value;
use tests::{Gated, overlay::Mount, root};

const MIB2: u64 = 2 << 20;

fn populate(lower: &Path) {
    std::fs::create_dir_all(lower.join("sub")).unwrap();
    std::fs::create_dir_all(lower.join("vol")).unwrap();
    std::fs::write(lower.join("sub/big"), vec![1u8; MIB2 as usize]).unwrap();
    for f in ["fdmode", "touched", "trunc", "early", "moved", "single"] {
        std::fs::write(lower.join(f), b"lower\n").unwrap();
    }
    std::fs::write(lower.join("linked"), b"lower\n").unwrap();
    std::fs::hard_link(lower.join("linked"), lower.join("sub/other-name")).unwrap();
}

/// fchmod on a read-only fd, utimensat and ftruncate, called directly.
fn python() -> bool {
    tests::apt_install_unless("command -v python3", &["python3"]);
    true
}

/// Runs `script` gated, traced by `ctrace trace overlay`, and returns the JSON report.
fn traced(script: &str) -> Value {
    let work = Gated::new(script);
    let tracer = work.tracer(&["trace", "overlay", "--json", "--interval", "300ms"]);
    work.run();
    std::thread::sleep(Duration::from_millis(400));
    tracer.stop_json()
}

fn copy_ups(report: &Value) -> Vec<Value> {
    report["overlay"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["largest"].as_array().unwrap().iter().cloned())
        .collect()
}

fn findings<'a>(report: &'a Value, kind: &str) -> Vec<&'a Value> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == kind)
        .collect()
}

#[test]
fn each_class_of_call_is_proven_from_kernel_facts() {
    if !root() || !python() {
        return;
    }
    let o = Mount::new("proof", "", populate);
    // Copied up before the trace: a second chmod is no copy-up.
    std::fs::write(o.merged("early"), b"upper\n").unwrap();
    let m = o.merged("");
    // Every command is a child that is gone by the drain; paths are relative to the cwd.
    let report = traced(&format!(
        "cd {m}/sub && python3 -c \"import os; f=os.open('big', os.O_WRONLY); os.ftruncate(f, 100)\" \
         && cd {m} \
         && python3 -c \"import os; f=os.open('fdmode', os.O_RDONLY); os.fchmod(f, 0o600)\" \
         && python3 -c \"import os; os.utime('touched')\" \
         && : > trunc && chmod 600 early && echo new > created && chmod 600 created"
    ));
    let mut got: Vec<(String, String, u64, String)> = copy_ups(&report)
        .iter()
        .map(|c| {
            (
                c["path"].as_str().unwrap().to_string(),
                c["trigger"].as_str().unwrap().to_string(),
                c["size"].as_u64().unwrap(),
                c["evidence"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    got.sort();
    let k = |p: &str, t: &str, size: u64| (o.merged(p), t.to_string(), size, "kernel".to_string());
    // The oracle: the lower file's size for the data copy that a later truncate shrinks, the
    // upper copy's for the others; 0 for the O_TRUNC open.
    let upper = |p: &str| std::fs::metadata(o.upper(p)).unwrap().len();
    assert_eq!(std::fs::metadata(o.upper("sub/big")).unwrap().len(), 100);
    assert_eq!(upper("trunc"), 0);
    assert_eq!(
        got,
        [
            k("fdmode", "chmod", upper("fdmode")),
            k("sub/big", "open for write", MIB2),
            k("touched", "utimes", upper("touched")),
            k("trunc", "open for write", 0),
        ],
        "{report:#}"
    );
    // The copy-up finding names the 2 MiB data copy, not the 100 bytes left after truncate.
    let f = findings(&report, "overlay_copy_up");
    assert_eq!(f.len(), 1, "{report:#}");
    assert_eq!(f[0]["evidence"]["largest"][0]["size"], MIB2);
    assert_eq!(f[0]["severity"], "warning");
    assert!(findings(&report, "overlay_hardlink_break").is_empty());
}

#[test]
fn exdev_into_a_bind_mounted_volume_is_counted_not_raised() {
    if !root() {
        return;
    }
    let mut o = Mount::new("exdev-volume", ",redirect_dir=off", populate);
    o.bind_volume("vol");
    // mv falls back to copy and delete on EXDEV: rename(2) fails once, the file still moves.
    let report = traced(&format!("mv {} {}/", o.merged("moved"), o.merged("vol")));
    assert!(
        o.dir.join("volume/moved").exists(),
        "the volume got the file"
    );
    let ex = report["overlay"]["exdev"].as_array().unwrap();
    assert_eq!(ex.len(), 1, "{report:#}");
    assert_eq!(ex[0]["same_mount"], false);
    assert_eq!(ex[0]["target_mount"], o.merged("vol").as_str());
    assert_eq!(report["overlay"]["exdev_cross_mount"], 1);
    assert!(
        findings(&report, "overlay_exdev_rename").is_empty(),
        "{report:#}"
    );
}

#[test]
fn a_hard_linked_lower_file_breaks_with_index_off() {
    if !root() {
        return;
    }
    let o = Mount::new("hardlink", ",index=off", populate);
    let report = traced(&format!(
        "chmod 600 {} {}",
        o.merged("linked"),
        o.merged("single")
    ));
    // The oracle: the other name is now another file, with the old mode.
    let a = std::fs::metadata(o.merged("linked")).unwrap();
    let b = std::fs::metadata(o.merged("sub/other-name")).unwrap();
    assert_ne!(a.ino(), b.ino());
    assert_ne!(b.mode() & 0o777, 0o600);
    let h = report["overlay"]["hardlink_breaks"].as_array().unwrap();
    assert_eq!(h.len(), 1, "only the linked file: {report:#}");
    assert_eq!(h[0]["path"], o.merged("linked").as_str());
    assert_eq!(h[0]["nlink"], 2);
    assert_eq!(h[0]["other_names"][0], o.merged("sub/other-name").as_str());
    // The kernel shows index= only when it differs from the module's default.
    assert!(
        h[0]["mount_index"] == "off"
            || (h[0]["mount_index"].is_null() && h[0]["index_param"] == "N"),
        "{h:#?}"
    );
    let f = findings(&report, "overlay_hardlink_break");
    assert_eq!(f.len(), 1);
    assert_eq!(f[0]["evidence"]["count"], 1);
    assert!(f[0]["remediation"].as_str().unwrap().contains("index=off"));
    // Both copy-ups are still copy-ups.
    assert_eq!(copy_ups(&report).len(), 2, "{report:#}");
}

#[test]
fn a_copy_up_that_does_not_fit_the_upper_is_critical() {
    if !root() {
        return;
    }
    for (upper_size, fits) in [("1m", false), ("16m", true)] {
        let o = Mount::with_upper(
            &format!("nospace-{upper_size}"),
            "",
            Some(upper_size),
            populate,
        );
        // The append fails when the 2 MiB copy-up does not fit; the script goes on.
        let report = traced(&format!("echo x >> {} || true", o.merged("sub/big")));
        let failed = report["overlay"]["failed"].as_array().unwrap();
        let critical: Vec<_> = findings(&report, "overlay_copy_up")
            .into_iter()
            .filter(|f| f["severity"] == "critical")
            .collect();
        if fits {
            assert!(failed.is_empty() && critical.is_empty(), "{report:#}");
            assert_eq!(
                std::fs::metadata(o.upper("sub/big")).unwrap().len(),
                MIB2 + 2
            );
            assert_eq!(copy_ups(&report)[0]["size"], MIB2);
            continue;
        }
        assert!(!o.upper("sub/big").exists(), "the copy-up failed");
        assert_eq!(failed.len(), 1, "{report:#}");
        assert_eq!(failed[0]["error"], "ENOSPC");
        assert_eq!(failed[0]["size"], MIB2);
        assert!(failed[0]["upper_free"].as_u64().unwrap() < MIB2);
        assert_eq!(critical.len(), 1, "{report:#}");
        assert_eq!(critical[0]["evidence"]["size"], MIB2);
        assert!(copy_ups(&report).is_empty());
    }
}

/// Holds `path` open (and mapped MAP_SHARED when `map`), says so in `ready`, waits for `done`,
/// then writes what the mapping and a read() of the fd show.
const HOLDER: &str = r#"
import mmap, os, sys, time
path, ready, done, out, do_map = sys.argv[1:6]
fd = os.open(path, os.O_RDONLY)
m = mmap.mmap(fd, 0, mmap.MAP_SHARED, mmap.PROT_READ) if do_map == "1" else None
open(ready, "w").close()
while not os.path.exists(done):
    time.sleep(0.02)
seen = m[:5].decode() if m else "-"
open(out, "w").write(seen + " " + os.pread(fd, 5, 0).decode())
"#;

#[test]
fn a_shared_mapping_left_on_the_lower_file_is_stale() {
    if !root() || !python() {
        return;
    }
    for map in [true, false] {
        let o = Mount::new(&format!("stale-{map}"), "", populate);
        let holder = o.dir.join("holder.py");
        std::fs::write(&holder, HOLDER).unwrap();
        let d = |f: &str| o.dir.join(f).display().to_string();
        // The holder maps (or only opens) the lower file, then another process copies it up.
        let report = traced(&format!(
            "python3 {} {} {} {} {} {} & \
             while [ ! -e {ready} ]; do sleep 0.02; done; sleep 0.3; \
             echo upper > {file}; touch {done}; wait",
            holder.display(),
            o.merged("single"),
            d("ready"),
            d("done"),
            d("seen"),
            u8::from(map),
            ready = d("ready"),
            file = o.merged("single"),
            done = d("done"),
        ));
        // The oracle: what the holder saw after the copy-up. A read() follows the copy (4.19+),
        // a shared mapping keeps the old content.
        let seen = std::fs::read_to_string(d("seen")).unwrap();
        let stale = report["overlay"]["stale_mappings"].as_array().unwrap();
        let f = findings(&report, "overlay_stale_mapping");
        if !map {
            assert_eq!(
                seen, "- upper",
                "a read-only fd sees the copy on this kernel"
            );
            assert!(stale.is_empty() && f.is_empty(), "{report:#}");
            continue;
        }
        assert_eq!(seen, "lower upper", "the mapping kept the lower content");
        assert_eq!(stale.len(), 1, "{report:#}");
        let s = &stale[0];
        assert_eq!(s["path"], o.merged("single").as_str());
        assert_eq!(s["holder_comm"], "python3");
        assert_eq!(s["holder_how"], "MAP_SHARED mapping");
        assert_ne!(s["holder_pid"], s["pid"]);
        let age = s["mapping_age_s"].as_f64().unwrap();
        assert!((0.3..30.0).contains(&age), "{s:#}");
        assert_eq!(f.len(), 1);
        assert!(s["kernel_rule"].as_str().unwrap().contains(">= 4.19"));
    }
}
