//! Every file a user names, fed what an adversary would: empty, huge, binary, a directory,
//! /dev/zero, a fifo nobody writes, a path that cannot be written. Each ends in one line on
//! stderr, exit 2 (README's table: what the user gave), within seconds and in bounded memory,
//! before any probe is attached.

use std::{
    os::unix::{ffi::OsStrExt as _, process::ExitStatusExt as _},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use tests::{ctrace_bin, root, scratch_dir};

/// Longer than any case needs: a hang or a trace of the whole --duration (60 s) fails it.
/// Under the VM's emulated CPU (which sets CTRACE_SCRATCH) a debug build starts slower.
fn deadline() -> Duration {
    // Each case takes well under a second alone; a node busy compiling makes it seconds.
    if std::env::var_os("CTRACE_SCRATCH").is_some() {
        Duration::from_secs(30)
    } else {
        Duration::from_secs(10)
    }
}
/// The most resident memory a case may reach (KiB): far below /dev/zero read to the end.
const MAX_RSS_KIB: i64 = 256 << 10;

/// The scratch files of one run, removed at the end.
struct Files(PathBuf);

impl Files {
    fn new() -> Files {
        // One folder per test: the binary's tests run side by side, and each removes its own.
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let d = scratch_dir().join(format!("ctrace-bad-input-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("dir")).unwrap();
        std::fs::write(d.join("empty"), "").unwrap();
        std::fs::write(
            d.join("binary"),
            (0..=255u8).cycle().take(8192).collect::<Vec<_>>(),
        )
        .unwrap();
        // Sparse: 1 GiB that takes no disk.
        let huge = std::fs::File::create(d.join("huge")).unwrap();
        huge.set_len(1 << 30).unwrap();
        let fifo = std::ffi::CString::new(d.join("fifo").as_os_str().as_bytes()).unwrap();
        // SAFETY: a NUL-terminated path that outlives the call.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        std::fs::write(d.join("report.json"), r#"{"findings": []}"#).unwrap();
        Files(d)
    }

    fn path(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }

    /// The inputs that are never a valid file of any kind ctrace reads.
    fn bad_inputs(&self) -> Vec<(&'static str, String)> {
        vec![
            ("empty", self.path("empty")),
            ("huge", self.path("huge")),
            ("binary", self.path("binary")),
            ("a directory", self.path("dir")),
            ("/dev/zero", "/dev/zero".into()),
            ("a fifo", self.path("fifo")),
            ("missing", self.path("missing")),
        ]
    }

    /// Paths no output can go to.
    fn bad_outputs(&self) -> Vec<(&'static str, String)> {
        vec![
            ("a directory", self.path("dir")),
            ("a fifo", self.path("fifo")),
            ("unwritable", "/proc/ctrace-out.html".into()),
            ("in no directory", self.path("missing/out")),
        ]
    }

    /// Paths no output directory can be (a missing one is made, as `mkdir -p` would).
    fn bad_output_dirs(&self) -> Vec<(&'static str, String)> {
        vec![
            ("a file", self.path("empty")),
            ("a fifo", self.path("fifo")),
            ("unwritable", "/proc/ctrace-filters".into()),
            ("under a file", self.path("empty/filters")),
        ]
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs ctrace with `args` to its end (killed past the deadline): exit code, stderr, time and
/// peak RSS (KiB), from wait4 on this very child.
fn run(args: &[String]) -> (Option<i32>, String, Duration, i64) {
    let t = Instant::now();
    #[allow(
        clippy::zombie_processes,
        reason = "reaped by wait4 below, which also gives its rusage"
    )]
    let child = Command::new(ctrace_bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut stderr = child.stderr.unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut s);
        s
    });
    // SAFETY: rusage is plain integers, for which all zeroes is a valid value.
    let (mut status, mut usage) = (0, unsafe { std::mem::zeroed::<libc::rusage>() });
    loop {
        // SAFETY: wait4 on our own child, with pointers to locals that outlive the call.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if r == pid {
            break;
        }
        if t.elapsed() > deadline() * 3 {
            // SAFETY: signals our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let took = t.elapsed();
    let err = reader.join().unwrap();
    let code = std::process::ExitStatus::from_raw(status).code();
    (code, err, took, usage.ru_maxrss)
}

/// One line, exit 2, in time and memory, naming the flag.
fn refused(args: &[String], flag: &str, what: &str) {
    let (code, err, took, rss) = run(args);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    let case = format!("{} ({what})", args.join(" "));
    assert_eq!(lines.len(), 1, "{case}: not one line: {err:?}");
    assert!(!err.contains("panicked"), "{case}: {err}");
    assert_eq!(code, Some(2), "{case}: {err}");
    assert!(took < deadline(), "{case}: took {took:?}");
    assert!(rss < MAX_RSS_KIB, "{case}: {rss} KiB resident");
    assert!(
        lines[0].contains(flag),
        "{case}: the line names no {flag}: {err}"
    );
}

fn args(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn every_file_input_refuses_what_is_not_its_file() {
    let f = Files::new();
    for (what, p) in f.bad_inputs() {
        let out = f.path("out.html");
        refused(&args(&["report", "--html", &out, &p]), &p, what);
        refused(
            &args(&["bench", "seccomp", "--profile", &p]),
            "--profile",
            what,
        );
        refused(
            &args(&["serve", "--auth-token-file", &p, "--duration", "1s"]),
            "--auth-token-file",
            what,
        );
        let key = f.path("empty");
        refused(
            &args(&[
                "serve",
                "--tls-cert",
                &p,
                "--tls-key",
                &key,
                "--duration",
                "1s",
            ]),
            "--tls-cert",
            what,
        );
        assert!(!Path::new(&out).exists(), "{what}: an output was left");
    }
}

#[test]
fn every_output_path_is_tried_before_anything_runs() {
    if !root() {
        return;
    }
    let f = Files::new();
    let report = f.path("report.json");
    for (what, p) in f.bad_outputs() {
        // A trace of 60 s that reached its probes would miss the deadline.
        refused(
            &args(&["trace", "sem", "--duration", "60s", "--html", &p]),
            "--html",
            what,
        );
        refused(&args(&["report", "--html", &p, &report]), "--html", what);
        refused(
            &args(&["bench", "seccomp", "--html", &p, "--runs", "1"]),
            "--html",
            what,
        );
        refused(
            &args(&["serve", "sem", "--duration", "60s", "--findings-out", &p]),
            "--findings-out",
            what,
        );
    }
    for (what, p) in f.bad_output_dirs() {
        // Five rounds of every workload: a bench that reached its timing would miss the deadline.
        refused(
            &args(&["bench", "seccomp", "--save-filters", &p]),
            "--save-filters",
            what,
        );
    }
}

#[test]
fn flag_values_that_are_empty_huge_or_binary_are_one_line() {
    let huge = "9".repeat(100_000);
    let binary = "\u{1}\u{7f}\u{fffd}";
    for flag in [
        "--duration",
        "--interval",
        "--pid",
        "--comm",
        "--sem-leak-age",
        "--zombie-age",
        "--top",
        "--max-syscall-keys",
        "--duty-cycle",
    ] {
        for (what, v) in [("empty", ""), ("huge", huge.as_str()), ("binary", binary)] {
            // A command name is any bytes the kernel keeps: a binary one is a valid name.
            if flag == "--comm" && what == "binary" {
                continue;
            }
            let (code, err, took, _) = run(&args(&["trace", flag, v, "--duration", "1ms"]));
            let case = format!("trace {flag} <{what}>");
            assert!(!err.contains("panicked"), "{case}: {err}");
            assert_eq!(err.lines().count(), 1, "{case}: {err:?}");
            assert_eq!(code, Some(2), "{case}: {err}");
            assert!(took < deadline(), "{case}: took {took:?}");
        }
    }
}

#[test]
fn a_missing_argument_is_named() {
    let (code, err, _, _) = run(&args(&["report", "--html"]));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--html"), "{err}");
    let (code, err, _, _) = run(&args(&["report", "x.json"]));
    assert_eq!(code, Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err:?}");
    assert!(err.contains("--html <OUT.html>"), "{err}");
}
