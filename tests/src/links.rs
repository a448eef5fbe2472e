//! What a process has attached, from /proc/PID/fdinfo of its BPF link fds: the kernel names
//! each link's type and tracepoint (`bpftool link`/`perf list` show the same facts).

/// One BPF link held by a process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    /// "raw_tracepoint" (raw_tp and tp_btf), "perf" (a classic tracepoint or probe), ...
    pub link_type: String,
    /// The tracepoint: "sys_enter" (raw_syscalls) or "sys_enter_write" (a `syscalls:` one).
    pub tp_name: String,
    /// Perf links: "tracepoint", "kprobe", ...; empty for the others.
    pub event_type: String,
    pub prog_id: u32,
}

/// Every BPF link fd of `pid`.
pub fn links(pid: u32) -> Vec<Link> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fdinfo")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in dir.flatten() {
        let Ok(text) = std::fs::read_to_string(entry.path()) else {
            continue;
        };
        let field = |key: &str| {
            text.lines()
                .filter_map(|l| l.split_once(':'))
                .find(|(k, _)| k.trim() == key)
                .map(|(_, v)| v.trim().to_string())
        };
        let Some(link_type) = field("link_type") else {
            continue;
        };
        out.push(Link {
            link_type,
            tp_name: field("tp_name").unwrap_or_default(),
            event_type: field("event_type").unwrap_or_default(),
            prog_id: field("prog_id").and_then(|v| v.parse().ok()).unwrap_or(0),
        });
    }
    out
}

/// A per-syscall `syscalls:sys_enter_*`/`sys_exit_*` tracepoint.
pub fn is_syscalls_tracepoint(l: &Link) -> bool {
    l.event_type == "tracepoint"
        && (l.tp_name.starts_with("sys_enter_") || l.tp_name.starts_with("sys_exit_"))
}
