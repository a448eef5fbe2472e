//! What a process's threads are doing, from /proc: for the failure message of a test whose
//! ctrace stopped answering.

/// Each thread of `pid`: name, state, what it waits in and its kernel stack, for a failure
/// message when a process stops answering.
pub fn of(pid: u32) -> String {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return format!("(no /proc/{pid}: gone)");
    };
    let mut out = String::new();
    for t in tasks.flatten() {
        let dir = t.path();
        let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap_or_default();
        let stat = read("stat");
        // The fields after the name's closing parenthesis: state first, utime and stime 12th/13th.
        let rest: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, r)| r.split_whitespace().collect())
            .unwrap_or_default();
        let field = |i: usize| rest.get(i).copied().unwrap_or("?");
        out += &format!(
            "{} {} state {} utime {} stime {} wchan {}\n{}",
            t.file_name().to_string_lossy(),
            read("comm").trim(),
            field(0),
            field(11),
            field(12),
            read("wchan"),
            read("stack")
                .lines()
                .take(8)
                .map(|l| format!("    {l}\n"))
                .collect::<String>()
        );
    }
    out
}
