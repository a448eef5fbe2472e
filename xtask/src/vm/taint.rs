//! The kernel's own complaints during a VM run: a new `WARNING` in its log or a new taint bit
//! fails the run (a node with `panic_on_warn=1` would have panicked).

use std::{fs, path::Path};

use super::sh_quote;

/// Shell lines that save the kernel log and the taint mask as `<when>.dmesg` / `<when>.tainted`.
pub fn snapshot(out: &Path, when: &str) -> String {
    let o = sh_quote(&out.display().to_string());
    format!("dmesg > {o}/{when}.dmesg 2>&1\ncat /proc/sys/kernel/tainted > {o}/{when}.tainted\n")
}

/// What the kernel said between the two snapshots: new warning lines and new taint bits.
pub fn news(out: &Path) -> Vec<String> {
    let read = |f: &str| fs::read_to_string(out.join(f)).unwrap_or_default();
    let (before, after) = (read("before.dmesg"), read("after.dmesg"));
    if after.is_empty() {
        return vec!["no kernel log was read after the run".into()];
    }
    let mut news: Vec<String> = after
        .lines()
        .filter(|l| is_warning(l) && !before.contains(*l))
        .map(|l| format!("kernel log: {}", l.trim()))
        .collect();
    let mask = |f: &str| read(f).trim().parse::<u64>().ok();
    match (mask("before.tainted"), mask("after.tainted")) {
        (Some(b), Some(a)) if a & !b != 0 => news.push(format!(
            "kernel tainted: {b} -> {a} (new bits {:#x}; see Documentation/admin-guide/tainted-kernels)",
            a & !b
        )),
        (Some(_), Some(_)) => {}
        _ => news.push("the taint mask was not read before and after the run".into()),
    }
    news
}

/// A kernel WARN() (`WARNING: CPU: ...`), a BUG or an oops.
fn is_warning(line: &str) -> bool {
    ["WARNING:", "BUG:", "Oops", "Call Trace:"]
        .iter()
        .any(|w| line.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_warning_and_a_new_taint_bit_are_reported_old_ones_are_not() {
        let dir = std::env::temp_dir().join(format!("ctrace-taint-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let old = "[    1.0] WARNING: CPU: 0 PID: 1 at old.c:1\n";
        fs::write(dir.join("before.dmesg"), old).unwrap();
        fs::write(dir.join("before.tainted"), "4096\n").unwrap();
        fs::write(dir.join("after.tainted"), "4096\n").unwrap();
        fs::write(dir.join("after.dmesg"), format!("{old}[    2.0] ok\n")).unwrap();
        assert!(news(&dir).is_empty());
        let new = "[    3.0] WARNING: CPU: 1 PID: 9 at kernel/bpf/syscall.c:1 map_check_btf\n";
        fs::write(dir.join("after.dmesg"), format!("{old}{new}")).unwrap();
        fs::write(dir.join("after.tainted"), "4608\n").unwrap();
        let n = news(&dir);
        fs::remove_dir_all(&dir).unwrap();
        assert_eq!(n.len(), 2, "{n:?}");
        assert!(
            n[0].contains("map_check_btf") && n[1].contains("0x200"),
            "{n:?}"
        );
    }
}
