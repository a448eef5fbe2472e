//! Classic BPF seccomp filters as the kernel holds them: installing one in this process, and
//! reading a running process's filters with PTRACE_SECCOMP_GET_FILTER.

use anyhow::{Result, bail};

use crate::node;

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

/// The filters of `pid`, oldest first (the order to install them in), each as BPF bytes.
pub fn filters_of(pid: u32) -> Result<Vec<Vec<u8>>> {
    let Some(mode) = node::proc_status_field(pid, "Seccomp") else {
        bail!("unknown pid: {pid} (no such process)");
    };
    if mode != "2" {
        bail!("pid {pid} has no seccomp filter (Seccomp: {mode})");
    }
    let p = pid as libc::pid_t;
    unsafe {
        if libc::ptrace(libc::PTRACE_ATTACH, p, 0, 0) != 0 {
            bail!(
                "ptrace attach to pid {pid}: {}",
                std::io::Error::last_os_error()
            );
        }
        let mut status = 0;
        libc::waitpid(p, &mut status, libc::__WALL);
    }
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
