//! Headless Chromium (Debian's `chromium`) for the HTML report's tests: installed when missing,
//! run with the flags this machine needs (no sandbox as root, no GPU, no background network),
//! a fresh profile every time and its log on stderr, which the tests read for CSP violations.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

/// Installs Debian's chromium when it is missing.
pub fn install_if_missing() {
    crate::apt_install_unless("test -x /usr/bin/chromium", &["chromium"]);
}

/// What one headless run printed: stdout (the DOM for --dump-dom) and its log.
pub struct Run {
    pub stdout: String,
    pub log: String,
}

/// Runs `chromium --headless ARGS file://PAGE` with a fresh profile; panics on failure or after
/// two minutes.
pub fn run(page: &Path, args: &[String]) -> Run {
    install_if_missing();
    let page = std::fs::canonicalize(page).unwrap_or_else(|e| panic!("{}: {e}", page.display()));
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let profile = scratch(&format!("chromium-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&profile);
    let out_path = profile.with_extension("stdout");
    let log_path = profile.with_extension("log");
    let mut child = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .expect("spawn chromium");
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium {args:?} ran past 2 minutes");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&profile);
    let _ = std::fs::remove_file(&out_path);
    let _ = std::fs::remove_file(&log_path);
    assert!(
        status.success(),
        "chromium {args:?} failed ({status}):\n{log}"
    );
    Run { stdout, log }
}

/// The DOM after load, as Chromium serialises it.
pub fn dump_dom(page: &Path) -> Run {
    run(page, &["--dump-dom".into()])
}

/// A screenshot of the top `width` x `height` pixels of the page.
pub fn screenshot(page: &Path, png: &Path, width: u32, height: u32) -> Run {
    run(
        page,
        &[
            format!("--screenshot={}", png.display()),
            format!("--window-size={width},{height}"),
        ],
    )
}

/// The page printed to PDF.
pub fn print_to_pdf(page: &Path, pdf: &Path) -> Run {
    run(
        page,
        &[
            format!("--print-to-pdf={}", pdf.display()),
            "--no-pdf-header-footer".into(),
        ],
    )
}

/// A scratch path under target/ for this test binary.
pub fn scratch(name: &str) -> PathBuf {
    let dir = crate::scratch_dir().join("html-tests");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Lines of a Chromium log that say the page tried to reach something: a Content-Security-
/// Policy violation, a console message, a network error or any http(s) address.
pub fn fetch_lines(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| {
            l.contains("Content Security Policy")
                || l.contains("CONSOLE")
                || l.contains("net::ERR")
                || l.contains("http://")
                || l.contains("https://")
        })
        .collect()
}
