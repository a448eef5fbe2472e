//! The live view and progress, on the real kernel with the real binary: the full-screen view in
//! an 80-column tmux pane (a real pseudo-terminal), the plain lines where stderr is a pipe, a
//! finding shown within an interval in both, q's clean stop, and bench seccomp's progress.

use std::{
    io::{BufRead as _, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use tests::{
    Tracer,
    bpf::{BPF_MAP_GET_NEXT_ID, BPF_PROG_GET_NEXT_ID, assert_ids_gone, held_ids},
    ctrace_bin, root, scratch_dir, spawn_ready,
    tmux::Pane,
};

/// A pid namespace whose PID 1 never reaps: `n` children and `n` orphaned grandchildren turn
/// zombie at once. Returns the helper and the host pid of the namespace's PID 1.
fn noreap_tree(n: u32) -> (Child, u32) {
    let (child, line) = spawn_ready(
        env!("CARGO_BIN_EXE_zombie-helper"),
        &["ns-tree", "noreap", &n.to_string()],
    );
    let pid = line
        .strip_prefix("ready ")
        .expect("ready line")
        .parse()
        .unwrap();
    (child, pid)
}

fn stop_tree(mut helper: Child, init: u32) {
    unsafe { libc::kill(init as i32, libc::SIGKILL) };
    let _ = helper.wait();
}

fn too_wide(screen: &[String], width: usize) -> Vec<&String> {
    screen
        .iter()
        .filter(|l| l.chars().count() > width)
        .collect()
}

fn scratch(name: &str) -> PathBuf {
    let d = scratch_dir().join(format!("live-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    let p = d.join(name);
    let _ = std::fs::remove_file(&p);
    p
}

fn read_pid(path: &Path, timeout: Duration) -> u32 {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(p) = std::fs::read_to_string(path)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            return p;
        }
        assert!(Instant::now() < deadline, "no pid in {}", path.display());
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn wait_gone(pid: u32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Path::new(&format!("/proc/{pid}")).exists() {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    true
}

#[test]
fn full_screen_fits_80_columns_shows_a_finding_and_q_stops_with_the_report() {
    if !root() {
        return;
    }
    let _tracefs = tests::tracefs_in_use();
    let (pidfile, out, rc) = (scratch("tui.pid"), scratch("tui.out"), scratch("tui.rc"));
    let cmd = format!(
        "echo $$ > {}; exec {} trace --zombie-age 1s --interval 1s > {}",
        pidfile.display(),
        ctrace_bin().display(),
        out.display()
    );
    // The report goes to a file, the view to the pane; sh stays to record the exit status.
    let cmd = format!("sh -c '{cmd}'; echo $? > {}; sleep 600", rc.display());
    let Some(pane) = Pane::start("tui", &cmd) else {
        return;
    };
    let pid = read_pid(&pidfile, Duration::from_secs(10));
    let (up, screen) = pane.wait(Duration::from_secs(60), |s| {
        s.iter().any(|l| l.contains("findings:"))
    });
    assert!(
        up,
        "no live view: {screen:#?}\nctrace's threads:\n{}",
        tests::threads::of(pid)
    );
    let progs = held_ids(pid, "prog_id");
    let maps = held_ids(pid, "map_id");
    assert!(
        !progs.is_empty(),
        "ctrace holds no BPF program while attached"
    );

    let (helper, init) = noreap_tree(3);
    let spawned = Instant::now();
    let (seen, screen) = pane.wait(Duration::from_secs(6), |s| {
        s.iter()
            .any(|l| l.contains("zombie_accumulation") && l.contains("noreap-init"))
    });
    let took = spawned.elapsed();
    stop_tree(helper, init);
    assert!(seen, "the finding never showed: {screen:#?}");
    // Old enough after --zombie-age, then shown at the next interval.
    assert!(took < Duration::from_secs(4), "shown after {took:?}");
    assert!(too_wide(&screen, 80).is_empty(), "{screen:#?}");
    assert!(
        screen.iter().any(|l| l.contains("SYSCALLS/S")),
        "no seccomp table: {screen:#?}"
    );

    // s switches the sort, and the screen still fits.
    pane.keys("s");
    let (sorted, screen) = pane.wait(Duration::from_secs(3), |s| {
        s.iter().any(|l| l.contains("by time in syscalls"))
    });
    assert!(sorted, "{screen:#?}");
    assert!(too_wide(&screen, 80).is_empty(), "{screen:#?}");

    pane.keys("q");
    assert!(
        wait_gone(pid, Duration::from_secs(60)),
        "q did not stop ctrace"
    );
    let status = std::fs::read_to_string(&rc).unwrap_or_default();
    assert_eq!(status.trim(), "0", "exit status");
    let report = std::fs::read_to_string(&out).unwrap();
    assert!(report.contains("== zombie"), "no report: {report}");
    assert!(
        !report.contains('\x1b'),
        "terminal control codes in the report: {report:?}"
    );
    assert!(!pane.alternate_screen(), "left on the alternate screen");
    let screen = pane.capture();
    assert!(
        screen.iter().any(|l| l.contains("detaching")),
        "{screen:#?}"
    );
    assert_ids_gone(&progs, BPF_PROG_GET_NEXT_ID);
    assert_ids_gone(&maps, BPF_MAP_GET_NEXT_ID);
}

#[test]
fn plain_lines_stay_short_and_show_a_new_finding_within_an_interval() {
    if !root() {
        return;
    }
    // stderr is a pipe here: the plain lines, as with --no-tui.
    let mut tracer = Tracer::start(&["trace", "--zombie-age", "1s", "--interval", "1s", "--json"]);
    let (helper, init) = noreap_tree(3);
    let spawned = Instant::now();
    tracer.wait_for("zombie_accumulation noreap-init", Duration::from_secs(6));
    let took = spawned.elapsed();
    stop_tree(helper, init);
    let lines = tracer.stderr.clone();
    let report = tracer.stop_json();
    assert!(
        took < Duration::from_secs(4),
        "shown after {took:?}: {lines:#?}"
    );
    let live: Vec<&String> = lines.iter().filter(|l| l.starts_with('[')).collect();
    assert!(
        live.iter().any(|l| l.contains("] zombie:")),
        "one line per problem: {lines:#?}"
    );
    let long: Vec<&&String> = live.iter().filter(|l| l.chars().count() > 100).collect();
    assert!(long.is_empty(), "{long:#?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("finding: WARNING zombie_accumulation")
                || l.contains("finding: CRITICAL zombie_accumulation")),
        "{lines:#?}"
    );
    assert!(report["findings"].as_array().is_some());
}

#[test]
fn no_tui_gives_plain_lines_on_a_terminal() {
    if !root() {
        return;
    }
    let _tracefs = tests::tracefs_in_use();
    let cmd = format!(
        "{} trace zombie --no-tui --interval 500ms --duration 3s > /dev/null; sleep 600",
        ctrace_bin().display()
    );
    let Some(pane) = Pane::start("notui", &cmd) else {
        return;
    };
    let (ok, screen) = pane.wait(Duration::from_secs(60), |s| {
        s.iter().any(|l| l.contains("] zombie:"))
    });
    assert!(ok, "{screen:#?}");
    assert!(!pane.alternate_screen());
    assert!(too_wide(&screen, 80).is_empty(), "{screen:#?}");
}

#[test]
fn bench_seccomp_shows_progress_within_5s_on_a_terminal() {
    if !root() {
        return;
    }
    let cmd = format!(
        "{} bench seccomp --runs 3; sleep 600",
        ctrace_bin().display()
    );
    let Some(pane) = Pane::start("bench", &cmd) else {
        return;
    };
    let (ok, screen) = pane.wait(Duration::from_secs(5), |s| {
        s.iter().any(|l| l.starts_with("kernel "))
            && s.iter().any(|l| l.contains(" under ") && l.contains("ETA"))
    });
    assert!(ok, "no node facts and progress bar within 5 s: {screen:#?}");
}

#[test]
fn bench_seccomp_prints_a_start_notice_without_a_terminal() {
    if !root() {
        return;
    }
    let started = Instant::now();
    let mut child = Command::new(ctrace_bin())
        .args(["bench", "seccomp", "--runs", "3"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ctrace");
    let (tx, rx) = mpsc::channel();
    for r in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for l in BufReader::new(r).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
    }
    let (mut facts, mut notice, mut seen) = (false, false, Vec::new());
    while !(facts && notice) {
        let left = Duration::from_secs(5).saturating_sub(started.elapsed());
        match rx.recv_timeout(left) {
            Ok(l) => {
                facts |= l.starts_with("kernel ");
                notice |= l.starts_with("ctrace: bench seccomp:") && l.contains("timed runs");
                seen.push(l);
            }
            Err(_) => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(facts && notice, "within 5 s: {seen:#?}");
}

#[test]
fn ctrl_c_twice_in_the_full_screen_exits_at_once_with_the_terminal_restored() {
    if !root() {
        return;
    }
    let _tracefs = tests::tracefs_in_use();
    let (pidfile, rc) = (scratch("ctrlc.pid"), scratch("ctrlc.rc"));
    let cmd = format!(
        "echo $$ > {}; exec {} trace > /dev/null",
        pidfile.display(),
        ctrace_bin().display()
    );
    // The shell outlives the SIGINT the terminal sends its whole process group.
    let cmd = format!(
        "trap : INT; sh -c '{cmd}'; echo $? > {}; sleep 600",
        rc.display()
    );
    let Some(pane) = Pane::start("ctrlc", &cmd) else {
        return;
    };
    let pid = read_pid(&pidfile, Duration::from_secs(10));
    let (up, screen) = pane.wait(Duration::from_secs(60), |s| {
        s.iter().any(|l| l.contains("findings:"))
    });
    assert!(
        up,
        "no live view: {screen:#?}\nctrace's threads:\n{}",
        tests::threads::of(pid)
    );
    let progs = held_ids(pid, "prog_id");
    // In raw mode Ctrl-C is a key, not a signal: the first stops cleanly, the second at once.
    pane.keys("C-c");
    std::thread::sleep(Duration::from_millis(100));
    let second = Instant::now();
    pane.keys("C-c");
    // At once: ctrace's own part. The kernel's release of the probes as the process ends
    // (a grace period per classic tracepoint) is not counted here.
    let (told, screen) = pane.wait(Duration::from_secs(1), |s| {
        s.iter().any(|l| l.contains("stopped without the report"))
    });
    let took = second.elapsed();
    assert!(told, "{took:?} after the second Ctrl-C: {screen:#?}");
    assert!(wait_gone(pid, Duration::from_secs(60)), "still running");
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        let s = std::fs::read_to_string(&rc).unwrap_or_default();
        if !s.trim().is_empty() || Instant::now() > deadline {
            break s;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.trim(), "130", "exit status");
    assert!(!pane.alternate_screen(), "left on the alternate screen");
    assert_ids_gone(&progs, BPF_PROG_GET_NEXT_ID);
}
