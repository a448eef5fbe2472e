//! Output that goes wrong: a reader that went away, a full disk, a closed stderr, Ctrl-C twice.
//! Nothing panics (a panic exits 101), and nothing stays attached.

use std::{
    os::fd::{FromRawFd as _, OwnedFd},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use tests::{Tracer, bpf, ctrace_bin, root};

/// The write end of a pipe whose read end is already closed: every write gets EPIPE.
fn closed_pipe() -> Stdio {
    let mut p = [0i32; 2];
    assert_eq!(unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    let (read_end, write_end) = unsafe { (OwnedFd::from_raw_fd(p[0]), OwnedFd::from_raw_fd(p[1])) };
    drop(read_end);
    Stdio::from(write_end)
}

fn run(args: &[&str], stdout: Stdio, stderr: Stdio) -> (Option<i32>, String) {
    let _tracefs = tests::tracefs_in_use();
    let out = Command::new(ctrace_bin())
        .args(args)
        .stdout(stdout)
        .stderr(stderr)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_closed_stdout_ends_doctor_and_trace_quietly() {
    if !root() {
        return;
    }
    for args in [
        &["doctor"][..],
        &["doctor", "--json"][..],
        &["trace", "seccomp", "--duration", "1s", "--json"][..],
        &["trace", "zombie", "--duration", "1s"][..],
    ] {
        let (code, err) = run(args, closed_pipe(), Stdio::piped());
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        // doctor exits 1 when a check fails on this node; the closed pipe is not a failure.
        let ok = if args[0] == "doctor" { [0, 1] } else { [0, 0] };
        assert!(ok.contains(&code.unwrap_or(-1)), "{args:?}: {code:?} {err}");
    }
}

#[test]
fn a_full_disk_is_one_line_and_exit_1() {
    if !root() {
        return;
    }
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let (code, err) = run(&["doctor"], Stdio::from(full), Stdio::piped());
    assert_eq!(code, Some(1), "{err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].contains("No space left on device"), "{err}");
}

#[test]
fn a_closed_stderr_does_not_panic_the_live_line() {
    if !root() {
        return;
    }
    let (code, _) = run(
        &[
            "trace",
            "seccomp",
            "--duration",
            "1500ms",
            "--interval",
            "200ms",
            "--json",
        ],
        Stdio::null(),
        closed_pipe(),
    );
    assert_eq!(code, Some(0), "a closed stderr ended trace");
}

#[test]
fn bad_values_are_refused_with_exit_2() {
    for (args, why) in [
        (&["trace", "--interval", "0"][..], "at least 100ms"),
        (&["serve", "--interval", "0"][..], "at least 100ms"),
        (&["trace", "--interval", "1ns"][..], "at least 100ms"),
        (&["trace", "--pid", "-5"][..], "a pid is a positive number"),
        (&["bench", "seccomp", "--runs", "0"][..], "at least 1"),
    ] {
        let (code, err) = run(args, Stdio::null(), Stdio::piped());
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains(why), "{args:?}: {err}");
    }
}

#[test]
fn a_second_ctrl_c_exits_at_once() {
    if !root() {
        return;
    }
    // Every problem: the most to detach. Classic tracepoints cost the kernel a grace period
    // each to detach, under one mutex; the syscall dispatcher leaves only sched and signal ones.
    let mut tracer = Tracer::start(&["trace", "--json"]);
    let pid = tracer.pid() as i32;
    let progs = bpf::held_ids(tracer.pid(), "prog_id");
    assert!(!progs.is_empty());
    unsafe { libc::kill(pid, libc::SIGINT) };
    tracer.wait_for("detaching", Duration::from_secs(5));
    let second = Instant::now();
    unsafe { libc::kill(pid, libc::SIGINT) };
    let status = tracer.wait();
    let took = second.elapsed();
    assert_eq!(status.code(), Some(130), "{status}");
    // Within 3 s: 1 s on hardware, but CI runs three emulated (TCG) VMs side by side on two
    // CPUs, where the exit path alone took 1.1 s; a full detach waits out grace periods.
    assert!(
        took < Duration::from_secs(3),
        "the second Ctrl-C took {took:?}"
    );
    bpf::assert_ids_gone(&progs, bpf::BPF_PROG_GET_NEXT_ID);
}

#[test]
fn the_text_report_in_a_file_keeps_its_lines_whole() {
    if !root() {
        return;
    }
    let _tracefs = tests::tracefs_in_use();
    // All problems: the probes line lists every program, longer than a terminal's 100 columns.
    let out = Command::new(ctrace_bin())
        .args(["trace", "--duration", "1s"])
        .stderr(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains('…'), "a line was cut in a pipe: {text}");
    assert!(
        text.lines().any(|l| l.chars().count() > 100),
        "no line longer than 100 columns to check: {text}"
    );
}

#[test]
fn every_plain_live_line_fits_100_columns_the_first_too() {
    if !root() {
        return;
    }
    let (code, err) = run(
        &["trace", "--duration", "1500ms", "--interval", "500ms"],
        Stdio::null(),
        Stdio::piped(),
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(err.starts_with("ctrace: attached "), "{err}");
    // The first line and the live lines (warnings the node gives rise to are not live lines).
    let live = err
        .lines()
        .enumerate()
        .filter(|(i, l)| *i == 0 || l.starts_with('['))
        .map(|(_, l)| l);
    for l in live {
        assert!(
            l.chars().count() <= 100,
            "{} columns: {l}",
            l.chars().count()
        );
    }
}
