//! The drain stage: while serve's analysis loop is held (the test-only switch that stands for a
//! slow call: a Docker API answer, a /proc scan), the kernel's ring buffers are still emptied.

use std::time::{Duration, Instant};

use tests::{
    root,
    serve::{http_get, sample},
};

/// Lifecycles forked while the loop is held: each is an exit and a free record of 88 bytes in
/// zombie's 1 MiB ring, so 12,000 (2 MiB) overflow it unless something drains it meanwhile.
const FORKS: u32 = 12_000;

#[test]
fn a_held_loop_does_not_stop_the_drains() {
    if !root() {
        return;
    }
    let hold = std::env::temp_dir().join(format!("ctrace-drain-hold-{}", std::process::id()));
    let _ = std::fs::remove_file(&hold);
    let out = std::env::temp_dir().join(format!("ctrace-drain-{}.ndjson", std::process::id()));
    // Scoped by name: the storm's children keep it (they fork without exec).
    let tracer = tests::Tracer::start_with(
        &[
            "serve",
            "zombie",
            "--listen",
            "127.0.0.1:0",
            "--interval",
            "200ms",
            "--comm",
            "fork-storm",
            "--findings-out",
            out.to_str().unwrap(),
        ],
        &[("CTRACE_TEST_HOLD_LOOP", hold.to_str().unwrap())],
    );
    let addr = tracer
        .stderr
        .iter()
        .find_map(|l| l.split("http://").nth(1)?.split('/').next())
        .unwrap()
        .to_string();
    let wait = |what: &str, pred: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !pred() {
            let m = http_get(&addr, "/metrics").1;
            let lines: Vec<&str> = m
                .lines()
                .filter(|l| l.contains("exits") || l.contains("dropped") || l.contains("events"))
                .collect();
            assert!(Instant::now() < deadline, "never: {what}: {lines:#?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    wait("a first snapshot", &|| http_get(&addr, "/metrics").0 == 200);
    // Held: /healthz says so once three intervals went by without a round.
    std::fs::write(&hold, "").unwrap();
    wait("a held loop", &|| http_get(&addr, "/healthz").0 == 503);
    let t0 = Instant::now();
    let storm = std::process::Command::new(env!("CARGO_BIN_EXE_fork-storm"))
        .arg(FORKS.to_string())
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&storm.stdout).trim(),
        format!("reaped {FORKS}")
    );
    let storm_s = t0.elapsed().as_secs_f64();
    // Still held while the records wait: only the drain stage has run.
    assert_eq!(http_get(&addr, "/healthz").0, 503, "the loop went round");
    std::fs::remove_file(&hold).unwrap();
    // Every exit counted (the children the storm reaped, and the storm itself),
    // and nothing dropped, in the kernel or at the queue.
    let metrics = std::cell::RefCell::new(String::new());
    wait("every exit counted", &|| {
        let (code, m) = http_get(&addr, "/metrics");
        let done = code == 200
            && sample(&m, "ctrace_process_exits_total").unwrap_or(0.0) >= f64::from(FORKS + 1);
        *metrics.borrow_mut() = m;
        done
    });
    let m = metrics.into_inner();
    assert_eq!(
        sample(&m, "ctrace_process_exits_total"),
        Some(f64::from(FORKS + 1)),
        "{m}"
    );
    let dropped: Vec<&str> = m
        .lines()
        .filter(|l| l.starts_with("ctrace_dropped_events_total{") && !l.ends_with(" 0"))
        .collect();
    assert!(
        dropped.is_empty(),
        "drops after a {storm_s:.1} s storm: {dropped:?}"
    );
    assert!(tracer.terminate().success());
    let _ = std::fs::remove_file(&out);
}
