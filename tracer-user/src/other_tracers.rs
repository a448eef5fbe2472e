//! Other BPF tracers on the node. Their programs on the syscall tracepoints run on every
//! syscall, beside ctrace's, so a benchmark taken next to them measures them too: it says so
//! before it starts, naming them.

/// Program types that hook tracepoints (`prog_type` in fdinfo): tracepoint, raw tracepoint,
/// tracing (tp_btf, fentry).
const TRACING_TYPES: [&str; 3] = ["5", "17", "26"];

/// One line per other process that holds tracing programs: its name and pid, and the syscall
/// tracepoints its raw tracepoint links name, where they say.
pub fn describe() -> Vec<String> {
    let me = std::process::id();
    let mut out = Vec::new();
    for pid in crate::node::pids().into_iter().filter(|p| *p != me) {
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fdinfo")) else {
            continue;
        };
        let (mut programs, mut on_syscalls) = (0, Vec::new());
        for fd in fds.flatten() {
            let Some(info) = crate::node::fdinfo(&fd.path()) else {
                continue;
            };
            if info
                .get("prog_type")
                .is_some_and(|t| TRACING_TYPES.contains(&t.as_str()))
            {
                programs += 1;
            }
            if let Some(tp) = info
                .get("tp_name")
                .filter(|tp| tp.as_str() == "sys_enter" || tp.as_str() == "sys_exit")
            {
                on_syscalls.push(tp.clone());
            }
        }
        if programs == 0 && on_syscalls.is_empty() {
            continue;
        }
        let comm = crate::node::proc_comm(pid).unwrap_or_else(|| "?".into());
        let on = if on_syscalls.is_empty() {
            "tracing programs that may be on syscalls".to_string()
        } else {
            format!("linked to {}", on_syscalls.join(", "))
        };
        out.push(format!("{comm} (pid {pid}): {programs} program(s), {on}"));
    }
    out
}

/// Warns on stderr before a benchmark; returns the descriptions for its JSON.
pub fn warn() -> Vec<String> {
    let others = describe();
    for o in &others {
        crate::say!(
            "ctrace: warning: another BPF tracer is running, and its cost is in every figure: {o}"
        );
    }
    others
}
