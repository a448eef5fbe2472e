//! Classic BPF seccomp filters as the kernel holds them: installing one in this process, and
//! reading a running process's filters with PTRACE_SECCOMP_GET_FILTER.

use anyhow::{Result, bail};

use crate::{node, out::Usage};

const PTRACE_SECCOMP_GET_FILTER: libc::c_uint = 0x420c;
/// Size of one `struct sock_filter` instruction.
pub const INSN: usize = 8;

/// Installs `bpf` (sock_filter instructions) as a seccomp filter of the calling thread, which
/// must be single-threaded for the filter to cover the whole process.
pub fn install(bpf: &[u8]) -> Result<()> {
    if bpf.is_empty() || !bpf.len().is_multiple_of(INSN) {
        bail!("not a BPF program ({} bytes)", bpf.len());
    }
    let prog = libc::sock_fprog {
        len: (bpf.len() / INSN) as u16,
        filter: bpf.as_ptr() as *mut libc::sock_filter,
    };
    unsafe {
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            bail!("PR_SET_NO_NEW_PRIVS: {}", std::io::Error::last_os_error());
        }
        if libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER,
            &prog as *const _,
        ) != 0
        {
            bail!(
                "installing the seccomp filter: {}",
                std::io::Error::last_os_error()
            );
        }
    }
    Ok(())
}

/// How long a process may take to reach its ptrace stop before ctrace gives up on it.
const STOP_DEADLINE: std::time::Duration = std::time::Duration::from_secs(1);

/// PTRACE_SEIZE (no signal is sent, unlike PTRACE_ATTACH's SIGSTOP, which the process and its
/// parent could see) and PTRACE_INTERRUPT, then waits for the stop until `deadline`; detaches
/// again if it does not come.
fn seize_stopped(p: libc::pid_t, deadline: std::time::Duration) -> Result<()> {
    let os = std::io::Error::last_os_error;
    unsafe {
        if libc::ptrace(libc::PTRACE_SEIZE, p, 0, 0) != 0 {
            bail!("PTRACE_SEIZE: {}", os());
        }
        if libc::ptrace(libc::PTRACE_INTERRUPT, p, 0, 0) != 0 {
            let e = os();
            libc::ptrace(libc::PTRACE_DETACH, p, 0, 0);
            bail!("PTRACE_INTERRUPT: {e}");
        }
    }
    let until = std::time::Instant::now() + deadline;
    loop {
        let mut status = 0;
        let r = unsafe { libc::waitpid(p, &mut status, libc::__WALL | libc::WNOHANG) };
        if r == p && libc::WIFSTOPPED(status) {
            return Ok(());
        }
        if r == p || (r < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR))
        {
            bail!("it exited before its ptrace stop");
        }
        if std::time::Instant::now() >= until {
            release(p);
            bail!("no ptrace stop within {deadline:?} (a task in uninterruptible sleep?)");
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

/// Detaches a seized process whose stop is late: PTRACE_DETACH needs the stop, which the
/// pending interrupt still brings, so wait for it a while longer (this runs on the
/// calibration worker, not in the drain loop). Left seized, the process would stay stopped
/// until this thread exits.
fn release(p: libc::pid_t) {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::time::Instant::now() < until {
        if unsafe { libc::ptrace(libc::PTRACE_DETACH, p, 0, 0) } == 0 {
            return;
        }
        let mut status = 0;
        let r = unsafe { libc::waitpid(p, &mut status, libc::__WALL | libc::WNOHANG) };
        if r == p && !libc::WIFSTOPPED(status) || r < 0 {
            return; // gone
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    log::warn!(
        "seccomp: pid {p} never reached its ptrace stop; it stays seized until ctrace exits"
    );
}

/// The filters of `pid`, oldest first (the order to install them in), each as BPF bytes.
pub fn filters_of(pid: u32) -> Result<Vec<Vec<u8>>> {
    let Some(mode) = node::proc_status_field(pid, "Seccomp") else {
        return Err(Usage(format!("unknown pid: {pid} (no such process)")).into());
    };
    if mode != "2" {
        return Err(Usage(format!("pid {pid} has no seccomp filter (Seccomp: {mode})")).into());
    }
    let p = pid as libc::pid_t;
    seize_stopped(p, STOP_DEADLINE).map_err(|e| anyhow::anyhow!("pid {pid}: {e}"))?;
    let mut filters = Vec::new();
    let result = (|| -> Result<()> {
        for index in 0.. {
            let n = unsafe { libc::ptrace(PTRACE_SECCOMP_GET_FILTER, p, index as usize, 0usize) };
            if n < 0 {
                let err = std::io::Error::last_os_error();
                if err.raw_os_error() == Some(libc::ENOENT) && index > 0 {
                    return Ok(());
                }
                bail!("PTRACE_SECCOMP_GET_FILTER on pid {pid}: {err}");
            }
            let mut buf = vec![0u8; n as usize * INSN];
            if unsafe {
                libc::ptrace(
                    PTRACE_SECCOMP_GET_FILTER,
                    p,
                    index as usize,
                    buf.as_mut_ptr(),
                )
            } < 0
            {
                bail!(
                    "PTRACE_SECCOMP_GET_FILTER on pid {pid}: {}",
                    std::io::Error::last_os_error()
                );
            }
            filters.push(buf);
        }
        Ok(())
    })();
    unsafe { libc::ptrace(libc::PTRACE_DETACH, p, 0, 0) };
    result?;
    filters.reverse();
    Ok(filters)
}

/// Concatenated filters with a length prefix each, for passing to a child through a file.
pub fn encode(filters: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in filters {
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(f);
    }
    out
}

pub fn decode(mut data: &[u8]) -> Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    while data.len() >= 4 {
        let n = u32::from_le_bytes([data[0], data[1], data[2], data[3]]) as usize;
        if data.len() < 4 + n {
            bail!("truncated filter file");
        }
        out.push(data[4..4 + n].to_vec());
        data = &data[4 + n..];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_roundtrip() {
        let f = vec![vec![1u8; 16], vec![2u8; 8]];
        assert_eq!(decode(&encode(&f)).unwrap(), f);
        assert!(decode(&[9, 0, 0, 0, 1]).is_err());
    }
}
