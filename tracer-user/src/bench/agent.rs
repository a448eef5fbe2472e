//! `ctrace bench agent`: the agent's own targets, each against a real `ctrace serve` child.
//! - event to NDJSON line: a process of a watched name dies by SIGPIPE; the time from the bench
//!   letting it write into a pipe nobody reads to its finding line arriving through a FIFO
//!   given as --findings-out (p99 ≤ 10 ms);
//! - idle serve: its CPU time over a window, scoped to a sleeping process so that no event
//!   reaches it (≤ 1% of one CPU);
//! - /metrics answer time while 500 idle connections are open and a slow client reads /report
//!   (≤ 100 ms at p99).
//!
//! The third interleaves rounds without the load with rounds under it, so that what the node's
//! own load costs (2 CPUs shared with builds) shows beside what the connections cost. Each
//! prints median, p99 and max, and the node's load average is printed around them.

use std::{
    ffi::CString,
    io::{BufRead as _, BufReader, Read as _, Write as _},
    net::TcpStream,
    os::fd::{FromRawFd as _, OwnedFd},
    sync::mpsc,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};

use super::{agents::Agent, children::stop_flag};
use crate::{node, outln};

/// The comm of the processes killed by SIGPIPE; watched (given to --comm).
const VICTIM: &str = "ctrace-bench-sp";

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Sorted samples' median, p99 and max, in ms.
fn spread(v: &mut [f64]) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1];
    (super::stats::median(v), at(0.99), at(1.0))
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "MISSED" }
}

/// A child that waits for a byte on `go`, names itself VICTIM and writes into `dead`, a pipe
/// whose read end is closed: SIGPIPE's default action kills it.
fn victim(go: &OwnedFd, dead: &OwnedFd) -> Result<u32> {
    use std::os::fd::AsRawFd as _;
    let name = CString::new(VICTIM)?;
    let (go, dead) = (go.as_raw_fd(), dead.as_raw_fd());
    match unsafe { libc::fork() } {
        -1 => bail!("fork: {}", std::io::Error::last_os_error()),
        0 => unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
            libc::prctl(libc::PR_SET_NAME, name.as_ptr());
            let mut b = 0u8;
            libc::read(go, (&raw mut b).cast(), 1);
            libc::write(dead, (&raw const b).cast(), 1);
            libc::_exit(0)
        },
        pid => Ok(pid as u32),
    }
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        bail!("pipe: {}", std::io::Error::last_os_error());
    }
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Event to NDJSON line, `n` samples.
fn sigpipe_latency(n: usize, stop: &std::sync::atomic::AtomicBool) -> Result<Vec<f64>> {
    let fifo = std::env::temp_dir().join(format!("ctrace-bench-{}.ndjson", std::process::id()));
    let _ = std::fs::remove_file(&fifo);
    let path = CString::new(fifo.to_str().context("temp dir")?)?;
    if unsafe { libc::mkfifo(path.as_ptr(), 0o600) } != 0 {
        bail!("mkfifo: {}", std::io::Error::last_os_error());
    }
    // Read and write (Linux allows it on a FIFO): serve's open does not wait for a reader, and
    // reads wait for lines rather than end before serve opens it.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    if fd < 0 {
        bail!("open fifo: {}", std::io::Error::last_os_error());
    }
    let reader = unsafe { std::fs::File::from_raw_fd(fd) };
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines().map_while(Result::ok) {
            let _ = tx.send((Instant::now(), line));
        }
    });
    let port = free_port()?.to_string();
    let agent = Agent::start(&[
        "serve",
        "sigpipe",
        "--comm",
        VICTIM,
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--findings-out",
        fifo.to_str().unwrap_or_default(),
    ]);
    let _ = std::fs::remove_file(&fifo);
    let agent = agent?;
    let mut out = Vec::new();
    for _ in 0..n {
        if stop.load(std::sync::atomic::Ordering::Relaxed) {
            break;
        }
        let (go_r, go_w) = pipe()?;
        let (dead_r, dead_w) = pipe()?;
        drop(dead_r);
        let pid = victim(&go_r, &dead_w)?;
        // The child is asleep on `go`, its name set or about to be: let it settle.
        std::thread::sleep(Duration::from_millis(20));
        let t0 = Instant::now();
        let mut go = std::fs::File::from(go_w);
        go.write_all(b"x")?;
        let is_ours = |line: &str| {
            serde_json::from_str::<serde_json::Value>(line)
                .is_ok_and(|v| v["finding"]["subject"]["pid"] == pid)
        };
        let deadline = t0 + Duration::from_secs(5);
        let found = loop {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok((at, line)) if is_ours(&line) => break Some(at),
                Ok(_) => continue,
                Err(_) => break None,
            }
        };
        unsafe { libc::waitpid(pid as i32, std::ptr::null_mut(), 0) };
        match found {
            Some(at) => out.push((at - t0).as_secs_f64() * 1e3),
            None => bail!("no finding line within 5 s for pid {pid}"),
        }
        // Samples apart, as on an idle node (serve streams ten rounds a second in the long run).
        std::thread::sleep(Duration::from_millis(150));
    }
    agent.stop()?;
    Ok(out)
}

/// CPU time of process `pid` (every thread), in seconds.
fn cpu_s(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let rest = stat.rsplit_once(") ").context("/proc stat")?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>()? + f[12].parse::<f64>()?;
    Ok(ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64)
}

/// Idle serve's share of one CPU over `secs`, after a settling second.
fn idle_cpu(secs: u64) -> Result<f64> {
    let mut sleeper = std::process::Command::new("sleep")
        .arg((secs + 30).to_string())
        .spawn()?;
    let port = free_port()?.to_string();
    let sleeper_pid = sleeper.id().to_string();
    let agent = Agent::start(&[
        "serve",
        "--pid",
        &sleeper_pid,
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--findings-out",
        "/dev/null",
    ]);
    let agent = match agent {
        Ok(a) => a,
        Err(e) => {
            let _ = sleeper.kill();
            return Err(e);
        }
    };
    std::thread::sleep(Duration::from_secs(1));
    let (c0, t0) = (cpu_s(agent.pid())?, Instant::now());
    std::thread::sleep(Duration::from_secs(secs));
    let share = (cpu_s(agent.pid())? - c0) / t0.elapsed().as_secs_f64();
    agent.stop()?;
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    Ok(share * 100.0)
}

fn get(addr: &str, path: &str) -> Result<Duration> {
    let t0 = Instant::now();
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())?;
    let mut body = Vec::new();
    s.read_to_end(&mut body)?;
    let head = String::from_utf8_lossy(&body[..body.len().min(16)]).to_string();
    if head.split_whitespace().nth(1) != Some("200") {
        bail!(
            "{path}: {}",
            String::from_utf8_lossy(&body[..body.len().min(40)])
        );
    }
    Ok(t0.elapsed())
}

/// 500 idle connections and a slow /report reader, held until dropped.
struct Load {
    _idle: Vec<TcpStream>,
    done: mpsc::Sender<()>,
    reader: std::thread::JoinHandle<()>,
}

impl Load {
    fn open(addr: &str) -> Result<Load> {
        let idle = (0..500)
            .map(|_| TcpStream::connect(addr))
            .collect::<Result<_, _>>()?;
        // The slow reader: asks for /report, then takes 64 bytes every 50 ms.
        let mut slow = TcpStream::connect(addr)?;
        slow.write_all(b"GET /report HTTP/1.1\r\nHost: x\r\n\r\n")?;
        let (done, done_rx) = mpsc::channel::<()>();
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 64];
            while done_rx.try_recv().is_err() {
                if matches!(slow.read(&mut buf), Ok(0) | Err(_)) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        Ok(Load {
            _idle: idle,
            done,
            reader,
        })
    }

    fn close(self) {
        let _ = self.done.send(());
        let _ = self.reader.join();
    }
}

/// /metrics answer times in interleaved rounds, without and with `Load`: (bare, loaded), ms.
fn metrics_under_load(n: usize) -> Result<(Vec<f64>, Vec<f64>)> {
    let addr = format!("127.0.0.1:{}", free_port()?);
    let agent = Agent::start(&["serve", "--listen", &addr, "--findings-out", "/dev/null"])?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while get(&addr, "/report").is_err() {
        if Instant::now() > deadline {
            bail!("serve gave no /report within 30 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let (mut bare, mut loaded) = (Vec::new(), Vec::new());
    for _ in 0..n.div_ceil(10) {
        for _ in 0..10 {
            bare.push(get(&addr, "/metrics")?.as_secs_f64() * 1e3);
            std::thread::sleep(Duration::from_millis(20));
        }
        let load = Load::open(&addr)?;
        // Open, not opening: the agent accepts the 500 first (serve closes a connection that
        // sent no request head within 10 s, so a round stays well inside that).
        std::thread::sleep(Duration::from_millis(500));
        for _ in 0..10 {
            loaded.push(get(&addr, "/metrics")?.as_secs_f64() * 1e3);
            std::thread::sleep(Duration::from_millis(20));
        }
        load.close();
    }
    agent.stop()?;
    Ok((bare, loaded))
}

/// The node's load average over the last minute: the figures above are only as quiet as it.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

pub fn run(samples: usize, idle_secs: u64) -> Result<()> {
    node::require_root()?;
    let stop = stop_flag();
    let samples = samples.max(10);
    let mut missed = Vec::new();
    outln!("node load average (1 min) at the start: {}", loadavg())?;
    let mut lat = sigpipe_latency(samples, &stop)?;
    let (med, p99, max) = spread(&mut lat);
    let ok = p99 <= 10.0;
    outln!(
        "event to NDJSON line (SIGPIPE death, {} samples): median {med:.2} ms, p99 {p99:.2} ms, max {max:.2} ms; target p99 ≤ 10 ms: {}",
        lat.len(),
        verdict(ok)
    )?;
    if !ok {
        missed.push("event to NDJSON line");
    }
    let cpu = idle_cpu(idle_secs)?;
    let ok = cpu <= 1.0;
    outln!(
        "idle serve, every problem, no events reaching it, {idle_secs} s: {cpu:.2}% of one CPU; target ≤ 1%: {}",
        verdict(ok)
    )?;
    if !ok {
        missed.push("idle CPU");
    }
    let (mut bare, mut m) = metrics_under_load(samples)?;
    let (bmed, bp99, _) = spread(&mut bare);
    let (med, p99, max) = spread(&mut m);
    let ok = p99 <= 100.0;
    outln!(
        "/metrics with 500 idle connections and a slow /report reader ({} requests): median {med:.2} ms, p99 {p99:.2} ms, max {max:.2} ms (interleaved without them: median {bmed:.2} ms, p99 {bp99:.2} ms); target p99 ≤ 100 ms: {}",
        m.len(),
        verdict(ok)
    )?;
    if !ok {
        missed.push("/metrics under idle connections");
    }
    outln!("node load average (1 min) at the end: {}", loadavg())?;
    if !missed.is_empty() {
        bail!("targets MISSED: {}", missed.join(", "));
    }
    Ok(())
}
