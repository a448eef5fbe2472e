//! sigpipe's part of `ctrace doctor`: the watched daemons, where their logs go, their SIGPIPE.

use super::{fds, is_watched_comm};
use crate::shared::{Check, Status};

fn sig_mask_has_sigpipe(hex: &str) -> bool {
    u64::from_str_radix(hex.trim(), 16)
        .is_ok_and(|m| m & (1 << (tracer_common::sigpipe::SIGPIPE - 1)) != 0)
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
        let ign =
            crate::node::proc_status_field(pid, "SigIgn").is_some_and(|m| sig_mask_has_sigpipe(&m));
        let blk =
            crate::node::proc_status_field(pid, "SigBlk").is_some_and(|m| sig_mask_has_sigpipe(&m));
        let fragile = !ign
            && !blk
            && [1, 2].iter().any(|&n| {
                fds::describe(pid, n).is_some_and(|f| matches!(f.kind, "pipe" | "unix" | "tcp"))
            });
        out.push(Check {
            name: format!("sigpipe:{comm}"),
            status: if fragile { Status::Warn } else { Status::Ok },
            detail: format!(
                "pid {pid}: fd 1 -> {}, fd 2 -> {}; SIGPIPE {}{}",
                fd(1),
                fd(2),
                if ign {
                    "ignored"
                } else if blk {
                    "blocked"
                } else {
                    "default (fatal)"
                },
                if fragile {
                    ": a closed log stream would kill it"
                } else {
                    ""
                }
            ),
        });
    }
    if out.is_empty() {
        out.push(Check {
            name: "sigpipe:daemons".into(),
            status: Status::Ok,
            detail: "no dockerd, containerd, runc or kubelet running".into(),
        });
    }
    out
}
