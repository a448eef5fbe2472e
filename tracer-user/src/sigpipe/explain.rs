//! The sigpipe finding's text, built from what was observed.

use super::signal::{Signal, fd_role};

fn fd_text(s: &Signal) -> String {
    let fd =
        s.fd.map_or("a file descriptor".to_string(), |fd| format!("fd {fd}"));
    match &s.fd_info {
        Some(f) if f.kind == "pipe" => format!("{fd}, a pipe (inode {})", f.inode.unwrap_or(0)),
        Some(f) if f.kind == "unix" => format!(
            "{fd}, a unix stream socket connected to {}",
            f.peer.as_deref().unwrap_or("a peer that is gone")
        ),
        Some(f) if f.kind == "tcp" => format!(
            "{fd}, a TCP connection {} -> {}",
            f.local.as_deref().unwrap_or("?"),
            f.peer.as_deref().unwrap_or("?")
        ),
        Some(f) => format!("{fd} ({})", f.local.as_deref().unwrap_or(f.kind)),
        None => fd,
    }
}

fn what_happened(s: &Signal, died: bool, epipes: u64) -> String {
    if died && s.reraised {
        return "The kernel raised SIGPIPE and the Go runtime's handler caught it; because the write was to \
                fd 1 or 2 and the program had not asked for SIGPIPE, the runtime re-raised it with the \
                default action, which terminated the process. "
            .into();
    }
    if died {
        return "The kernel raised SIGPIPE; its default action terminated the process. ".into();
    }
    let why = match s.outcome() {
        "blocked" | "already_pending" => {
            "SIGPIPE is blocked by the writing thread, so it stays pending and the process goes on"
        }
        // The Go runtime's handler survives a broken fd other than 1 and 2 only: on fd 1 or 2
        // a handler that let the process live is the program's own.
        "handled" if matches!(s.fd, Some(1 | 2)) => {
            "SIGPIPE is caught by a handler the program installed (a Go program that asked for \
             SIGPIPE with signal.Notify, or another runtime's handler), which let it go on"
        }
        "handled" => {
            "SIGPIPE is caught by a handler (the Go runtime ignores one from a write to a fd other \
             than 1 or 2)"
        }
        "ignored" => "SIGPIPE is ignored",
        _ => "SIGPIPE did not kill it",
    };
    format!("The process survives: {why}; {epipes} write(s) failed with EPIPE. ")
}

pub fn explanation(s: &Signal, died: bool, epipes: u64, journald_before: Option<f64>) -> String {
    let mut out = match s.syscall.as_deref() {
        Some(call) => format!(
            "{} (pid {}) wrote {}with {call}() to {}, whose reading end had been closed. ",
            s.comm,
            s.tgid,
            if s.size > 0 {
                format!("{} bytes ", s.size)
            } else {
                String::new()
            },
            fd_text(s)
        ),
        None => format!(
            "{} (pid {}) got SIGPIPE outside a write that ctrace traced (sent by a process, or a write \
             before tracing started). ",
            s.comm, s.tgid
        ),
    };
    out.push_str(&what_happened(s, died, epipes));
    match fd_role(s.fd, s.fd_info.as_ref()) {
        "log" if !died => out.push_str("The fd is its log: what it writes there is lost. "),
        "client" => out.push_str(
            "The fd is a client connection, not its log: the client went away (a killed `docker logs \
             -f` or `docker events`, a closed API call) and the daemon's answer had nowhere to go. ",
        ),
        _ => {}
    }
    if fd_role(s.fd, s.fd_info.as_ref()) != "log" {
        return out.trim_end().to_string();
    }
    if let Some(d) = journald_before {
        out.push_str(&format!(
            "systemd-journald restarted {d:.1}s before. journald reads a daemon's stdout and stderr through a \
             stream; a journald restart closes it, and the daemon's next log write raises SIGPIPE: the \
             failure the container guides describe for dockerd."
        ));
    } else if s
        .fd_info
        .as_ref()
        .and_then(|f| f.peer.as_deref())
        .is_some_and(|p| p.contains("journal"))
    {
        out.push_str("The stream is journald's stdout socket: journald has gone or closed it.");
    }
    out.trim_end().to_string()
}

pub fn remediation(s: &Signal, died: bool) -> String {
    let role = fd_role(s.fd, s.fd_info.as_ref());
    if !died && role == "client" {
        return "Nothing to restart: a client that closes its connection before the answer is complete is \
                normal. Look at the client if this repeats."
            .into();
    }
    if !died && role != "log" {
        return "Nothing to restart: the process survives and its log is not involved. Find out what read \
                this fd and why it went away, if that was not expected."
            .into();
    }
    let mut steps = Vec::new();
    if died {
        steps.push(format!(
            "Restart {} now, and restart it whenever journald restarts or fails (e.g. a systemd drop-in with \
             `Restart=always`, and `PartOf=systemd-journald.service` only if you accept restarts with it).",
            s.comm
        ));
        steps.push(
            "Make the daemon ignore SIGPIPE on its log descriptors (SIG_IGN, or Go's signal.Ignore(syscall.SIGPIPE)), \
             so that a closed log stream loses lines instead of killing it."
                .into(),
        );
    } else {
        steps.push(format!(
            "{} is losing its log: restart it (or reopen its log stream) so that it writes to a live stream again.",
            s.comm
        ));
    }
    if role == "log" {
        steps.push(
            "Keep journald's streams alive across its restarts: systemd-journald.service needs a file descriptor store \
             (`FileDescriptorStoreMax=`, 4224 in current systemd; set it where it is 0), and avoid restarting journald \
             on production nodes."
                .into(),
        );
    }
    steps.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handled_sigpipe_on_fd_2_is_not_explained_with_the_go_runtime_rule() {
        let on = |fd| Signal {
            fd: Some(fd),
            handler: Some(0x4000),
            ..Default::default()
        };
        assert_eq!(on(2).outcome(), "handled");
        let fd2 = what_happened(&on(2), false, 1);
        assert!(fd2.contains("a handler the program installed"), "{fd2}");
        assert!(!fd2.contains("other than 1 or 2"), "{fd2}");
        let fd7 = what_happened(&on(7), false, 1);
        assert!(fd7.contains("other than 1 or 2"), "{fd7}");
    }
}
