//! A missing tracefs is mounted by ctrace (alone in its binary: it unmounts tracefs first).

use std::process::Command;

use tests::{root, run_ctrace};

const TRACEFS: &str = "/sys/kernel/tracing";

fn mounted() -> bool {
    std::fs::read_to_string("/proc/self/mounts")
        .unwrap()
        .lines()
        .any(|l| l.split_whitespace().nth(1) == Some(TRACEFS))
}

#[test]
fn missing_tracefs_is_mounted() {
    if !root() {
        return;
    }
    if mounted() {
        let st = Command::new("umount").arg(TRACEFS).status().unwrap();
        if !st.success() {
            tests::skip_or_fail("tracefs is busy and cannot be unmounted to test remounting");
            return;
        }
    }
    assert!(!mounted());
    let (code, out, err) = run_ctrace(&["doctor"]);
    assert!(mounted(), "ctrace left tracefs unmounted: {out}{err}");
    assert!(out.contains("(mounted now)"), "{out}");
    assert!(code == 0 || code == 1, "{err}");
    // And tracing works on the freshly mounted tracefs.
    let (code, _, err) = run_ctrace(&["trace", "seccomp", "--duration", "1s", "--json"]);
    assert_eq!(code, 0, "{err}");
}
