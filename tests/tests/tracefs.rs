//! A missing tracefs is mounted by ctrace. It unmounts tracefs first, so it waits until no
//! other test on the node (in any checkout) runs ctrace, and runs its own without the harness's
//! shared tracefs lock.

use std::process::Command;

use tests::{ctrace_bin, node_lock, root};

fn run_ctrace(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(ctrace_bin()).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

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
    let _alone = node_lock("tracefs");
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
