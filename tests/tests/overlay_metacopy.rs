//! overlay under metacopy on the real kernel: a chmod copies up metadata only, and the write
//! after it copies the data up into the upper file that already exists. Both are copy-ups; the
//! oracle is the upper directory (the metacopy xattr, the blocks on disk) and the workload.

use std::{
    os::unix::fs::MetadataExt,
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use serde_json::Value;
use tests::{Gated, Tracer, overlay::Mount, root};

/// Bytes of each lower file: large enough that data on disk cannot be mistaken for metadata.
const SIZE: u64 = 1 << 20;

fn sh(cmd: &str) {
    let st = Command::new("sh").args(["-c", cmd]).status().unwrap();
    assert!(st.success(), "{cmd}");
}

/// Whether the kernel's overlay knows metacopy (the module parameter exists since 4.19).
fn metacopy_supported() -> bool {
    sh("modprobe overlay 2>/dev/null || true");
    Path::new("/sys/module/overlay/parameters/metacopy").exists()
}

/// Whether the upper file still waits for its data: overlay's own mark.
fn carries_metacopy(upper_file: &Path) -> bool {
    let path = std::ffi::CString::new(upper_file.display().to_string()).unwrap();
    // SAFETY: both strings are NUL-terminated and live across the call; a null buffer of size 0
    // only asks for the value's size.
    let rc = unsafe {
        libc::lgetxattr(
            path.as_ptr(),
            c"trusted.overlay.metacopy".as_ptr(),
            std::ptr::null_mut(),
            0,
        )
    };
    rc >= 0
}

/// Bytes the upper file holds on disk.
fn on_disk(upper_file: &Path) -> u64 {
    std::fs::metadata(upper_file).unwrap().blocks() * 512
}

fn mount(name: &str, opts: &str) -> Mount {
    Mount::new(name, opts, |lower| {
        for f in ["quick", "meta", "pre", "full"] {
            std::fs::write(lower.join(f), vec![7u8; SIZE as usize]).unwrap();
        }
    })
}

/// One copy-up as the report lists it: (file name, trigger, size, metadata_only,
/// completes_metacopy).
type Row = (String, String, u64, bool, Option<String>);

/// Every copy-up of the report (the host's group: the gated shell runs in no container).
fn rows(report: &Value, o: &Mount) -> Vec<Row> {
    let groups = report["overlay"]["groups"].as_array().unwrap();
    let total: u64 = groups.iter().map(|g| g["copy_ups"].as_u64().unwrap()).sum();
    let mut out: Vec<Row> = groups
        .iter()
        .flat_map(|g| g["largest"].as_array().unwrap().iter())
        .map(|c| {
            let path = c["path"].as_str().unwrap();
            let name = path
                .strip_prefix(&o.merged(""))
                .unwrap_or(path)
                .trim_start_matches('/');
            (
                name.to_string(),
                c["trigger"].as_str().unwrap().to_string(),
                c["size"].as_u64().unwrap(),
                c["metadata_only"].as_bool().unwrap_or(false),
                c["completes_metacopy"].as_str().map(String::from),
            )
        })
        .collect();
    assert_eq!(
        total,
        out.len() as u64,
        "more copy-ups than listed: {report:#}"
    );
    out.sort();
    out
}

/// A chmod's metadata-only copy-up of `name`.
fn metadata_only(name: &str) -> Row {
    (name.into(), "chmod".into(), 0, true, None)
}

/// The write's data copy-up of `name` that completes its metacopy, known by `how`.
fn completes(name: &str, how: &str) -> Row {
    let how = Some(how.to_string());
    (name.into(), "open for write".into(), SIZE, false, how)
}

fn wait_for(p: &Path) {
    let t = Instant::now();
    while !p.exists() {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "{} never came",
            p.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `tier`: CTRACE_TIER for the tracer ("" for the default, the kprobe tier where it attaches).
fn chmod_then_write(name: &str, tier: &str) {
    if !root() {
        return;
    }
    if !metacopy_supported() && tests::skip_or_fail("this kernel's overlay has no metacopy") {
        return;
    }
    let o = mount(name, ",metacopy=on");
    // Before the trace: `pre` metacopied (its data copy-up comes in the trace), `full` fully
    // copied up (a write in the trace copies nothing).
    sh(&format!(
        "chmod 600 {} && echo x >> {}",
        o.merged("pre"),
        o.merged("full")
    ));
    assert!(carries_metacopy(&o.upper("pre")), "chmod did not metacopy");
    assert!(!carries_metacopy(&o.upper("full")));
    let (paused, resume) = (o.dir.join("paused"), o.dir.join("resume"));
    // `quick`: the write at once after the chmod, within the inode clock's tick; `meta`: the
    // test looks at the upper file between the two.
    let work = Gated::new(&format!(
        "chmod 600 {quick} && echo x >> {quick} && chmod 600 {meta} && : > {paused} && \
         while [ ! -e {resume} ]; do sleep 0.02; done && \
         echo x >> {meta} && echo y >> {meta} && echo z >> {full} && echo w >> {pre}",
        quick = o.merged("quick"),
        meta = o.merged("meta"),
        full = o.merged("full"),
        pre = o.merged("pre"),
        paused = paused.display(),
        resume = resume.display(),
    ));
    let pid = work.pid().to_string();
    let tracer = Tracer::start_with(
        &[
            "trace",
            "overlay",
            "--json",
            "--interval",
            "500ms",
            "--pid",
            &pid,
        ],
        &[("CTRACE_TIER", tier)],
    );
    let running = std::thread::spawn(move || work.run());
    wait_for(&paused);
    let meta = o.upper("meta");
    assert!(carries_metacopy(&meta), "meta: the chmod copied data up");
    assert!(
        on_disk(&meta) < SIZE / 2,
        "meta: {} bytes on disk",
        on_disk(&meta)
    );
    std::fs::write(&resume, b"").unwrap();
    running.join().unwrap();
    for f in ["quick", "meta", "pre"] {
        let u = o.upper(f);
        assert!(!carries_metacopy(&u), "{f}: still a metacopy");
        assert!(on_disk(&u) >= SIZE, "{f}: {} bytes on disk", on_disk(&u));
    }
    std::thread::sleep(Duration::from_millis(400));
    let report = tracer.stop_json();
    let kernel = tests::probe_tier(&report, "overlay") == "kprobe";

    let mut want = vec![
        metadata_only("meta"),
        completes("meta", "metadata_copy_up_seen"),
        metadata_only("quick"),
        completes("quick", "metadata_copy_up_seen"),
    ];
    // Metacopied before the trace: only the kernel tier sees the copy-up inside the call
    // (docs/overlay.md, Limits).
    if kernel {
        want.push(completes("pre", "kernel_copy_up"));
    }
    want.sort();
    assert_eq!(rows(&report, &o), want, "{report:#}");
    tests::record(&format!(
        "overlay metacopy ({} tier): {} copy-ups, data copy-ups completing a metacopy reported",
        if kernel { "kprobe" } else { "tracepoint" },
        want.len()
    ));
}

#[test]
fn the_write_after_a_metadata_only_copy_up_copies_the_data_up() {
    chmod_then_write("metacopy-kprobe", "");
}

#[test]
fn the_write_after_a_metadata_only_copy_up_copies_the_data_up_tracepoint_tier() {
    chmod_then_write("metacopy-tp", "tracepoint");
}

/// metacopy off: the chmod copies the data up, and the write after it copies nothing.
#[test]
fn without_metacopy_a_chmod_copies_the_data_and_a_write_nothing() {
    if !root() {
        return;
    }
    let o = mount("metacopy-off", ",metacopy=off");
    let work = Gated::new(&format!(
        "chmod 600 {m} && echo x >> {m}",
        m = o.merged("meta")
    ));
    let tracer = work.tracer(&["trace", "overlay", "--json", "--interval", "500ms"]);
    work.run();
    let upper = o.upper("meta");
    assert!(!carries_metacopy(&upper));
    assert!(on_disk(&upper) >= SIZE);
    std::thread::sleep(Duration::from_millis(400));
    let report = tracer.stop_json();
    assert_eq!(
        rows(&report, &o),
        [("meta".into(), "chmod".into(), SIZE, false, None)],
        "{report:#}"
    );
}
