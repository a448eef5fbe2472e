//! sigpipe's part of `ctrace doctor`: the watched daemons, where their logs go, their SIGPIPE.

use super::{fds, is_watched_comm};
use crate::shared::{Check, Status};

fn sig_mask_has_sigpipe(hex: &str) -> bool {
    u64::from_str_radix(hex.trim(), 16)
        .is_ok_and(|m| m & (1 << (tracer_common::sigpipe::SIGPIPE - 1)) != 0)
}

enum State {
    Ignored,
    Blocked,
    /// The Go runtime's handler: it ignores a SIGPIPE from a write to a fd other than 1 or 2,
    /// and dies of one from fd 1 or 2 unless the program asked for SIGPIPE (signal.Notify).
    GoRuntime,
    Caught,
    Default,
}

impl State {
    /// What it is, and the risk when fd 1 or 2 is a stream ("" for none).
    fn text(&self) -> (&'static str, &'static str) {
        match self {
            State::Ignored => ("ignored", ""),
            State::Blocked => ("blocked", ""),
            State::GoRuntime => (
                "caught by the Go runtime",
                ": a broken fd 1 or 2 still kills it, unless the program asked for SIGPIPE \
                 (signal.Notify or signal.Ignore); other fds are safe",
            ),
            State::Caught => ("caught by a handler", ""),
            State::Default => ("default (fatal)", ": a closed log stream would kill it"),
        }
    }
}

/// A Go program: its executable has a `.go.buildinfo` section (ELF64 little-endian).
pub fn is_go_binary(pid: u32) -> bool {
    use std::os::unix::fs::FileExt as _;
    let Ok(f) = std::fs::File::open(format!("/proc/{pid}/exe")) else {
        return false;
    };
    let read = |off: u64, len: usize| {
        let mut b = vec![0u8; len];
        f.read_exact_at(&mut b, off).ok().map(|_| b)
    };
    let Some(h) = read(0, 64).filter(|h| h.starts_with(b"\x7fELF\x02\x01")) else {
        return false;
    };
    let u16_at = |b: &[u8], o: usize| u16::from_le_bytes([b[o], b[o + 1]]) as usize;
    let u64_at =
        |b: &[u8], o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap_or_default());
    let (shoff, shnum, shstrndx) = (u64_at(&h, 0x28), u16_at(&h, 0x3c), u16_at(&h, 0x3e));
    let Some(sh) = read(shoff, shnum * 64).filter(|_| shstrndx < shnum) else {
        return false;
    };
    let strtab = &sh[shstrndx * 64..];
    let Some(names) = read(
        u64_at(strtab, 0x18),
        u64_at(strtab, 0x20).min(1 << 20) as usize,
    ) else {
        return false;
    };
    (0..shnum).any(|i| {
        let n = u32::from_le_bytes(sh[i * 64..i * 64 + 4].try_into().unwrap_or_default()) as usize;
        names
            .get(n..)
            .is_some_and(|s| s.starts_with(b".go.buildinfo\0"))
    })
}

/// `ctrace doctor`: watched daemons running, where their fd 1 and 2 go, and their SIGPIPE state.
pub fn doctor_checks() -> Vec<Check> {
    let mut out = Vec::new();
    for pid in crate::node::pids() {
        let Some(comm) = crate::node::proc_comm(pid) else {
            continue;
        };
        if !is_watched_comm(&comm, &[]) {
            continue;
        }
        // Another user's fds can't be read without privilege: say so rather than "closed".
        if std::fs::read_dir(format!("/proc/{pid}/fd")).is_err() {
            out.push(Check {
                name: format!("sigpipe:{comm}"),
                status: Status::Skip,
                detail: format!("pid {pid}: its fds can't be read (needs root)"),
            });
            continue;
        }
        let fd = |n: i32| {
            fds::describe(pid, n).map_or("closed".to_string(), |f| {
                format!(
                    "{}{}",
                    f.kind,
                    f.peer
                        .or(f.local)
                        .map_or(String::new(), |p| format!(" {p}"))
                )
            })
        };
        let has = |field| {
            crate::node::proc_status_field(pid, field).is_some_and(|m| sig_mask_has_sigpipe(&m))
        };
        let state = if has("SigIgn") {
            State::Ignored
        } else if has("SigBlk") {
            State::Blocked
        } else if has("SigCgt") && is_go_binary(pid) {
            State::GoRuntime
        } else if has("SigCgt") {
            State::Caught
        } else {
            State::Default
        };
        let streams = [1, 2].iter().any(|&n| {
            fds::describe(pid, n).is_some_and(|f| matches!(f.kind, "pipe" | "unix" | "tcp"))
        });
        let (what, risk) = state.text();
        let fragile = streams && !risk.is_empty();
        out.push(Check {
            name: format!("sigpipe:{comm}"),
            status: if fragile { Status::Warn } else { Status::Ok },
            detail: format!(
                "pid {pid}: fd 1 -> {}, fd 2 -> {}; SIGPIPE {what}{}",
                fd(1),
                fd(2),
                if fragile { risk } else { "" }
            ),
        });
    }
    out.push(match super::kernel::btf_check() {
        Ok(()) => Check {
            name: "sigpipe:facts".into(),
            status: Status::Ok,
            detail: "fd, signal mask and exit code read in the kernel at the event (BTF offsets)"
                .into(),
        },
        Err(e) => Check {
            name: "sigpipe:facts".into(),
            status: Status::Warn,
            detail: format!(
                "{e:#}: fds from /proc after the event (a process gone by then goes undescribed), \
                 blocked SIGPIPE unseen, death by SIGPIPE guessed from an exit within 2 s"
            ),
        },
    });
    if out.len() == 1 {
        out.push(Check {
            name: "sigpipe:daemons".into(),
            status: Status::Ok,
            detail: "no dockerd, containerd, runc or kubelet running".into(),
        });
    }
    out
}
