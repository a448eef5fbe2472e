//! Facts about this node that every command needs: root, kernel, tracefs, memlock, /proc.

use std::{fs, path::Path};

use anyhow::{Context as _, Result, bail};

pub fn require_root() -> Result<()> {
    if unsafe { libc::geteuid() } != 0 {
        bail!(
            "must run as root: loading eBPF programs needs CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN"
        );
    }
    Ok(())
}

pub fn kernel_release() -> String {
    fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// (major, minor) of the running kernel, for the few checks that depend on it.
pub fn kernel_version() -> (u32, u32) {
    let rel = kernel_release();
    let mut it = rel.split(|c: char| !c.is_ascii_digit());
    let major = it.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let minor = it.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    (major, minor)
}

pub fn read_u64(path: &str) -> Option<u64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Kernels before 5.11 charge BPF maps to RLIMIT_MEMLOCK; lift it so map creation can't fail on it.
/// Returns the limit that was in force before, in bytes (None = unlimited).
pub fn bump_memlock() -> Result<Option<u64>> {
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut old) };
    let inf = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    if unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &inf) } != 0 {
        let (major, minor) = kernel_version();
        if (major, minor) < (5, 11) {
            bail!(
                "cannot raise RLIMIT_MEMLOCK: {}",
                std::io::Error::last_os_error()
            );
        }
    }
    Ok((old.rlim_cur != libc::RLIM_INFINITY).then_some(old.rlim_cur))
}

pub const TRACEFS: &str = "/sys/kernel/tracing";
const TRACEFS_MAGIC: i64 = 0x74726163;

/// How tracefs was found: already there, or mounted by us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tracefs {
    Present,
    MountedNow,
}

fn is_tracefs(path: &str) -> bool {
    let c = std::ffi::CString::new(path).expect("no NUL");
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    unsafe { libc::statfs(c.as_ptr(), &mut st) == 0 && st.f_type as i64 == TRACEFS_MAGIC }
}

/// Classic tracepoints need tracefs for their ids and formats; mount it when it is missing.
pub fn ensure_tracefs() -> Result<Tracefs> {
    if is_tracefs(TRACEFS) {
        return Ok(Tracefs::Present);
    }
    if !Path::new(TRACEFS).is_dir() {
        bail!(
            "tracefs is not mounted and {TRACEFS} does not exist (kernel built without CONFIG_TRACING?)"
        );
    }
    let src = std::ffi::CString::new("tracefs").unwrap();
    let dst = std::ffi::CString::new(TRACEFS).unwrap();
    let rc = unsafe {
        libc::mount(
            src.as_ptr(),
            dst.as_ptr(),
            src.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        bail!(
            "tracefs is not mounted and mounting it at {TRACEFS} failed: {}",
            std::io::Error::last_os_error()
        );
    }
    Ok(Tracefs::MountedNow)
}

/// Offset of a field in a classic tracepoint's record, from its tracefs format file.
pub fn tracepoint_field_offset(category: &str, name: &str, field: &str) -> Result<u32> {
    let path = format!("{TRACEFS}/events/{category}/{name}/format");
    let text = fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_field_offset(&text, field).with_context(|| format!("no field {field} in {path}"))
}

fn parse_field_offset(format: &str, field: &str) -> Option<u32> {
    format.lines().find_map(|line| {
        let decl = line.trim().strip_prefix("field:")?;
        let (decl, rest) = decl.split_once(';')?;
        let ident = decl.trim().rsplit([' ', '*']).next()?;
        let ident = ident.split('[').next()?;
        if ident != field {
            return None;
        }
        rest.split(';')
            .find_map(|kv| kv.trim().strip_prefix("offset:"))
            .and_then(|v| v.trim().parse().ok())
    })
}

/// A `Key:\tvalue` line of /proc/PID/status.
pub fn proc_status_field(pid: u32, key: &str) -> Option<String> {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status_field(&text, key)
}

pub fn status_field(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k == key).then(|| v.trim().to_string())
    })
}

/// `key:\tvalue` lines of one fdinfo file.
pub fn fdinfo(path: &Path) -> Option<std::collections::BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path).ok()?;
    Some(
        text.lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect(),
    )
}

/// Every process in /proc now.
pub fn pids() -> Vec<u32> {
    fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Whether the process still exists (a zombie does, until it is reaped).
pub fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

pub fn proc_comm(pid: u32) -> Option<String> {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|s| s.trim_end().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fork_format_offsets() {
        let fmt = "name: sched_process_fork\nID: 300\nformat:\n\
            \tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\
            \tfield:char parent_comm[16];\toffset:8;\tsize:16;\tsigned:0;\n\
            \tfield:pid_t parent_pid;\toffset:24;\tsize:4;\tsigned:1;\n\
            \tfield:char child_comm[16];\toffset:28;\tsize:16;\tsigned:0;\n\
            \tfield:pid_t child_pid;\toffset:44;\tsize:4;\tsigned:1;\n";
        assert_eq!(parse_field_offset(fmt, "child_pid"), Some(44));
        assert_eq!(parse_field_offset(fmt, "parent_comm"), Some(8));
        assert_eq!(parse_field_offset(fmt, "nope"), None);
    }

    #[test]
    fn status_fields() {
        let s = "Name:\tsleep\nTgid:\t42\nSeccomp:\t2\nSeccomp_filters:\t1\n";
        assert_eq!(status_field(s, "Seccomp").as_deref(), Some("2"));
        assert_eq!(status_field(s, "Tgid").as_deref(), Some("42"));
        assert_eq!(status_field(s, "Nope"), None);
    }
}
