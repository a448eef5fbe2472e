//! Soak benchmark, not part of the default test run (`cargo xtask bench soak [--secs N]`):
//! `ctrace serve` with every problem, for SOAK_SECS (default 600), under container churn, fork
//! and exit storms and semaphore churn. It prints ctrace's RSS at the start and the end (target:
//! flat and at most 64 MiB), its CPU share, drops and evictions.

use std::{
    io::{BufRead as _, BufReader},
    process::{Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use tests::{
    docker::{Docker, IMAGE},
    root,
    serve::{Agent, sample},
};

const LEAK_BASE: u32 = 0x0d4d_5000;
const MAX_LEAKS: u32 = 200;

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// utime + stime in seconds.
fn cpu_s(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = after
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (f.get(11).unwrap_or(&0) + f.get(12).unwrap_or(&0)) as f64 / ticks
}

fn sum_of(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .fold(0.0, |a, b| a + b)
}

fn remove_leaks() {
    for k in LEAK_BASE..LEAK_BASE + MAX_LEAKS {
        let id = unsafe { libc::semget(k as i32, 0, 0) };
        if id >= 0 {
            unsafe { libc::semctl(id, 0, libc::IPC_RMID) };
        }
    }
}

/// Runs `f` in a loop on its own thread until `stop`; counts its rounds.
fn churn(
    stop: &Arc<AtomicBool>,
    mut f: impl FnMut(u64) + Send + 'static,
) -> (std::thread::JoinHandle<()>, Arc<AtomicU64>) {
    let (stop, n) = (Arc::clone(stop), Arc::new(AtomicU64::new(0)));
    let count = Arc::clone(&n);
    let t = std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            f(count.fetch_add(1, Ordering::Relaxed));
        }
    });
    (t, n)
}

#[test]
#[ignore = "a 10-minute benchmark: cargo xtask bench soak"]
fn soak() {
    if !root() {
        return;
    }
    let secs: u64 = std::env::var("SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600);
    // Its leaked cookies use fixed keys in the host's IPC namespace, as sem's tests do.
    let _keys = tests::node_lock("sysv-sem");
    remove_leaks();
    let _docker = Docker::start();
    let agent = Agent::start("soak", &["--interval", "1s"]);
    let pid = agent.tracer.pid();
    std::thread::sleep(Duration::from_secs(5));
    let (rss0, cpu0, t0) = (rss_kib(pid), cpu_s(pid), Instant::now());
    let stop = Arc::new(AtomicBool::new(false));
    let (containers, n_ctr) = churn(&stop, |i| {
        // A copy-up, an orphan that PID 1 never reaps, and the container's exit.
        let script = "echo x >> /etc/group; (sleep 0.2 &); sleep 0.5";
        let _ = Command::new("docker")
            .args(["run", "--rm", "--network", "none", "--name"])
            .arg(format!("ctrace-soak-{}", i % 4))
            .args([IMAGE, "sh", "-c", script])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    });
    let (forks, n_forks) = churn(&stop, |i| {
        // Bursts of forks and exits, with pauses between them.
        if i % 2000 == 1999 {
            std::thread::sleep(Duration::from_secs(1));
        }
        let p = unsafe { libc::fork() };
        if p == 0 {
            unsafe { libc::_exit(0) };
        }
        if p > 0 {
            unsafe { libc::waitpid(p, std::ptr::null_mut(), 0) };
        }
    });
    let (sems, n_sems) = churn(&stop, |i| {
        if i % 500 == 0 && (i / 500) < MAX_LEAKS as u64 {
            // A leaked cookie: its creator is killed.
            let key = format!("{:#x}", LEAK_BASE + (i / 500) as u32);
            let mut c = Command::new(env!("CARGO_BIN_EXE_sem-helper"))
                .args(["create", "1", &key])
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            let mut line = String::new();
            let _ = BufReader::new(c.stdout.as_mut().unwrap()).read_line(&mut line);
            let _ = c.kill();
            let _ = c.wait();
        } else {
            let id = unsafe { libc::semget(libc::IPC_PRIVATE, 1, libc::IPC_CREAT | 0o600) };
            if id >= 0 {
                unsafe { libc::semctl(id, 0, libc::IPC_RMID) };
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    // /metrics answer times under the churn, from a scraper of our own (every 200 ms).
    let (scrapes, answer_ms) = {
        let addr = agent.addr.clone();
        let stop = Arc::clone(&stop);
        let times = Arc::new(std::sync::Mutex::new(Vec::<f64>::new()));
        let t = Arc::clone(&times);
        let h = std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let start = Instant::now();
                let (code, _) = tests::serve::http_get(&addr, "/metrics");
                if code == 200 {
                    t.lock().unwrap().push(start.elapsed().as_secs_f64() * 1e3);
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        (h, times)
    };
    let mut max_rss = rss0;
    // RSS once the churn has filled the caches and ring buffers: the baseline for "flat".
    let warm_after = Duration::from_secs((secs / 5).min(60));
    let mut rss_warm = None;
    while t0.elapsed() < Duration::from_secs(secs) {
        std::thread::sleep(Duration::from_secs(10).min(Duration::from_secs(secs)));
        let rss = rss_kib(pid);
        max_rss = max_rss.max(rss);
        if rss_warm.is_none() && t0.elapsed() >= warm_after {
            rss_warm = Some(rss);
        }
        let m = agent.get("/metrics").1;
        eprintln!(
            "soak [{:>4}s] rss={:.1} MiB cpu={:.1}% containers={} forks={} sem_ops={} drops={} evictions={}",
            t0.elapsed().as_secs(),
            rss as f64 / 1024.0,
            100.0 * (cpu_s(pid) - cpu0) / t0.elapsed().as_secs_f64(),
            n_ctr.load(Ordering::Relaxed),
            n_forks.load(Ordering::Relaxed),
            n_sems.load(Ordering::Relaxed),
            sum_of(&m, "ctrace_dropped_events_total"),
            sum_of(&m, "ctrace_evictions_total"),
        );
    }
    stop.store(true, Ordering::Relaxed);
    for t in [containers, forks, sems, scrapes] {
        let _ = t.join();
    }
    let wall = t0.elapsed().as_secs_f64();
    let (rss1, cpu1) = (rss_kib(pid), cpu_s(pid));
    let m = agent.get("/metrics").1;
    remove_leaks();
    let mib = |k: u64| k as f64 / 1024.0;
    println!("\nsoak: ctrace serve, every problem, {wall:.0} s");
    let per_s = |n: &AtomicU64| n.load(Ordering::Relaxed) as f64 / wall;
    println!(
        "  containers run      {} ({:.1}/s)",
        n_ctr.load(Ordering::Relaxed),
        per_s(&n_ctr)
    );
    println!(
        "  forks               {} ({:.0}/s)",
        n_forks.load(Ordering::Relaxed),
        per_s(&n_forks)
    );
    println!(
        "  semaphore rounds    {} ({:.0}/s)",
        n_sems.load(Ordering::Relaxed),
        per_s(&n_sems)
    );
    let rss_warm = rss_warm.unwrap_or(rss0);
    println!(
        "  RSS idle/warm/end   {:.1} / {:.1} / {:.1} MiB (max {:.1}; warm: after {} s of churn)",
        mib(rss0),
        mib(rss_warm),
        mib(rss1),
        mib(max_rss),
        warm_after.as_secs()
    );
    println!(
        "  CPU                 {:.2}% of one CPU",
        100.0 * (cpu1 - cpu0) / wall
    );
    println!(
        "  dropped events      {}",
        sum_of(&m, "ctrace_dropped_events_total")
    );
    println!(
        "  evictions           {}",
        sum_of(&m, "ctrace_evictions_total")
    );
    println!(
        "  tracked processes   {}",
        sample(&m, "ctrace_tracked{what=\"process\"}").unwrap_or(0.0)
    );
    println!(
        "  kernel map memory   {:.1} MiB (ctrace_bpf_map_bytes; not part of RSS)",
        sum_of(&m, "ctrace_bpf_map_bytes") / 1048576.0
    );
    let mut times = answer_ms.lock().unwrap().clone();
    times.sort_by(f64::total_cmp);
    let p99 = times
        .get((times.len() * 99 / 100).min(times.len().saturating_sub(1)))
        .copied()
        .unwrap_or(f64::INFINITY);
    println!(
        "  /metrics answers    {} scrapes, p50 {:.1} ms, p99 {p99:.1} ms",
        times.len(),
        times.get(times.len() / 2).copied().unwrap_or(f64::NAN)
    );
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    let flat = rss1 <= rss_warm + rss_warm / 5;
    let small = max_rss <= 64 * 1024;
    let drops = sum_of(&m, "ctrace_dropped_events_total");
    let targets = [
        (
            "RSS flat (end within 20% of warm) and <= 64 MiB",
            flat && small,
        ),
        ("no dropped events at this churn", drops == 0.0),
        ("/metrics p99 answer <= 50 ms", p99 <= 50.0),
    ];
    for (what, ok) in targets {
        println!("  target {what}: {}", verdict(ok));
    }
    assert!(agent.tracer.terminate().success(), "serve did not exit 0");
    let missed: Vec<&str> = targets.iter().filter(|t| !t.1).map(|t| t.0).collect();
    assert!(missed.is_empty(), "soak MISSED: {missed:?}");
}
