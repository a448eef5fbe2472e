//! The sigpipe finding's text, built from what was observed.

use super::signal::Signal;

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

pub fn explanation(s: &Signal, died: bool, epipes: u64, journald_before: Option<f64>) -> String {
    let call = s.syscall.as_deref().unwrap_or("a write");
    let mut out = format!(
        "{} (pid {}) wrote {} bytes with {call}() to {}, whose reading end had been closed. ",
        s.comm,
        s.tgid,
        s.size,
        fd_text(s)
    );
    if died {
        out.push_str("The kernel raised SIGPIPE; its default action terminated the process. ");
    } else {
        out.push_str(&format!(
            "The process survives because SIGPIPE is {}, but {epipes} write(s) failed with EPIPE: what it \
             writes there, its log among it, is lost. ",
            if s.outcome() == "handled" { "handled" } else { "ignored" }
        ));
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
            "{} is losing what it writes: restart it (or reopen its log stream) so that it writes to a live stream again.",
            s.comm
        ));
    }
    steps.push(
        "Keep journald's streams alive across its restarts: systemd-journald.service needs a file descriptor store \
         (`FileDescriptorStoreMax=`, 4224 in current systemd; set it where it is 0), and avoid restarting journald \
         on production nodes."
            .into(),
    );
    steps.join(" ")
}
