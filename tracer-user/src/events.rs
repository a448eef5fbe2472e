//! What every ring-buffer problem (sem, zombie, sigpipe) shares: attaching a list of classic
//! tracepoints, draining the ring buffer, kernel timestamps to unix time, and comms.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result};
use aya::{
    Ebpf, Pod,
    maps::{MapData, RingBuf},
};
use tracer_common::{COMM_LEN, Drop};

use crate::attach::{self, AttachType, Attachment, Target};
pub use crate::drain::Ring;

pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn mono_now() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

/// Converts bpf_ktime_get_ns (CLOCK_MONOTONIC) timestamps to unix seconds.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    mono_to_unix: f64,
}

impl Clock {
    pub fn new() -> Clock {
        Clock {
            mono_to_unix: unix_now() - mono_now(),
        }
    }

    pub fn unix(self, ktime_ns: u64) -> f64 {
        ktime_ns as f64 / 1e9 + self.mono_to_unix
    }
}

/// A syscall number of this architecture by name (`syscall_NR` where it has none).
pub fn syscall_name(nr: u32) -> String {
    syscalls::Sysno::new(nr as usize)
        .map(|s| s.name().to_string())
        .unwrap_or_else(|| format!("syscall_{nr}"))
}

/// A kernel comm (NUL-padded) as a string.
pub fn comm_str(c: &[u8; COMM_LEN]) -> String {
    let n = c.iter().position(|&b| b == 0).unwrap_or(COMM_LEN);
    String::from_utf8_lossy(&c[..n]).into_owned()
}

/// Attaches each (program, category, tracepoint) as a classic tracepoint.
pub fn attach_tracepoints(
    ebpf: &mut Ebpf,
    problem: &str,
    list: &[(&'static str, &'static str, &'static str)],
) -> Result<Vec<Attachment>> {
    list.iter()
        .map(|&(program, category, name)| {
            attach::attach(
                ebpf,
                program,
                AttachType::Tracepoint,
                Target { category, name },
            )
            .with_context(|| format!("{problem}: attaching {category}/{name}"))
        })
        .collect()
}

/// Takes a problem's ring buffer out of the object and starts draining it (drain.rs); records
/// lost at the queue between the drain and the analysis count as `why`.
pub fn ring(ebpf: &mut Ebpf, name: &str, why: Drop) -> Result<Ring> {
    let ring = RingBuf::<MapData>::try_from(
        ebpf.take_map(name)
            .with_context(|| format!("ring buffer {name} missing"))?,
    )?;
    Ring::start(ring, why)
}

/// Every record waiting for the analysis.
pub fn drain<T: Pod>(ring: &mut Ring) -> Vec<T> {
    let mut out = Vec::new();
    while let Some(item) = ring.next() {
        if item.len() >= std::mem::size_of::<T>() {
            out.push(unsafe { std::ptr::read_unaligned(item.as_ptr().cast::<T>()) });
        }
    }
    out
}

/// The programs of a list of attachments, each named once.
pub fn program_names(links: &[Attachment]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for l in links {
        if !names.iter().any(|n| n == l.program) {
            names.push(l.program.to_string());
        }
    }
    names
}

/// `pid` if it is alive, else its nearest living ancestor (through the kernel's record of forks):
/// whose namespaces and container a process that already exited shared.
pub fn living_ancestor(pid: u32, parent_of: &dyn Fn(u32) -> Option<u32>) -> u32 {
    let mut p = pid;
    for _ in 0..32 {
        if crate::node::alive(p) {
            return p;
        }
        match parent_of(p) {
            Some(parent) => p = parent,
            None => break,
        }
    }
    pid
}
