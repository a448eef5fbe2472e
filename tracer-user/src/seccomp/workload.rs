//! The child side of the seccomp benchmark: install the filters, then time one workload.

use std::time::Instant;

use anyhow::{Context as _, Result};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::filter;

pub use crate::cli::Workload;

// The flag's values are the CLI's; what each one runs is here.
impl Workload {
    pub const ALL: [Workload; 5] = [
        Workload::Getppid,
        Workload::Pipe,
        Workload::Sendto,
        Workload::OpenClose,
        Workload::CloneWait,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Workload::Getppid => "getppid",
            Workload::Pipe => "pipe",
            Workload::Sendto => "sendto",
            Workload::OpenClose => "open-close",
            Workload::CloneWait => "clone-wait",
        }
    }
    /// Syscalls one operation makes.
    pub fn syscalls(self) -> f64 {
        match self {
            Workload::Getppid => 1.0,
            Workload::CloneWait => 2.0,
            _ => 2.0,
        }
    }
}

/// One workload's timings, in ns per operation.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq)]
pub struct Timing {
    pub ns_per_op: f64,
    pub p50_ns: u64,
    pub p99_ns: u64,
    pub max_ns: u64,
}

struct Udp {
    tx: i32,
    rx: i32,
    addr: libc::sockaddr_in,
}

fn udp_pair() -> Result<Udp> {
    unsafe {
        let rx = libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0);
        let tx = libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0);
        let mut addr: libc::sockaddr_in = std::mem::zeroed();
        addr.sin_family = libc::AF_INET as u16;
        addr.sin_addr.s_addr = u32::from_ne_bytes([127, 0, 0, 1]);
        let len = std::mem::size_of::<libc::sockaddr_in>() as u32;
        if libc::bind(rx, &addr as *const _ as *const libc::sockaddr, len) != 0 {
            anyhow::bail!("bind: {}", std::io::Error::last_os_error());
        }
        let mut got = len;
        libc::getsockname(rx, &mut addr as *mut _ as *mut libc::sockaddr, &mut got);
        Ok(Udp { tx, rx, addr })
    }
}

/// Runs `iterations` operations (after a tenth as warm-up) under the given filters.
pub fn run(w: Workload, iterations: u64, filters: &[Vec<u8>]) -> Result<Timing> {
    let mut pipe = [0i32; 2];
    unsafe { libc::pipe(pipe.as_mut_ptr()) };
    let udp = udp_pair()?;
    let null = c"/dev/null";
    crate::cpu_pin::pin_to_last_cpu();
    for f in filters {
        filter::install(f).context("installing the filter under test")?;
    }
    let mut byte = [0u8; 1];
    let mut op = || unsafe {
        match w {
            Workload::Getppid => {
                libc::syscall(libc::SYS_getppid);
            }
            Workload::Pipe => {
                libc::write(pipe[1], byte.as_ptr().cast(), 1);
                libc::read(pipe[0], byte.as_mut_ptr().cast(), 1);
            }
            Workload::Sendto => {
                let len = std::mem::size_of::<libc::sockaddr_in>() as u32;
                libc::sendto(
                    udp.tx,
                    byte.as_ptr().cast(),
                    1,
                    0,
                    &udp.addr as *const _ as *const libc::sockaddr,
                    len,
                );
                libc::recv(udp.rx, byte.as_mut_ptr().cast(), 1, 0);
            }
            Workload::OpenClose => {
                let fd = libc::open(null.as_ptr(), libc::O_RDONLY);
                libc::close(fd);
            }
            Workload::CloneWait => {
                let pid = libc::fork();
                if pid == 0 {
                    libc::_exit(0);
                }
                libc::waitpid(pid, std::ptr::null_mut(), 0);
            }
        }
    };
    for _ in 0..iterations / 10 {
        op();
    }
    // The mean from an untimed pass; percentiles from a pass that reads the clock per operation
    // (whose own cost, the same under every filter, is inside them).
    let start = Instant::now();
    for _ in 0..iterations {
        op();
    }
    let total = start.elapsed().as_nanos() as f64;
    let mut hist = Histogram::<u64>::new_with_bounds(1, 10_000_000_000, 3)?;
    for _ in 0..iterations.div_ceil(2) {
        let t = Instant::now();
        op();
        let _ = hist.record(t.elapsed().as_nanos() as u64);
    }
    Ok(Timing {
        ns_per_op: total / iterations.max(1) as f64,
        p50_ns: hist.value_at_quantile(0.50),
        p99_ns: hist.value_at_quantile(0.99),
        max_ns: hist.max(),
    })
}
