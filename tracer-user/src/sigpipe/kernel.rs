//! sigpipe's kernel maps from user space: the BTF offsets the probes read tasks and fds with,
//! the exact per-process totals, and what an event says about its fd.

use std::collections::BTreeMap;

use anyhow::{Context as _, Result};
use aya::{
    Ebpf,
    maps::{Array, MapData, PerCpuHashMap},
};
use tracer_common::sigpipe::{
    OFFSETS, Offsets, PEER_LEN, SigpipeEvent, TOTALS, TotalKey, fact, result, total,
};

use super::fds::FdInfo;
use crate::btf::Btf;

fn offsets_from(btf: &Btf) -> Result<Offsets> {
    let o = |s: &str, m: &str| {
        btf.offset(s, m)
            .with_context(|| format!("{s}.{m} is not in the kernel's BTF"))
    };
    Ok(Offsets {
        ok: 1,
        task_blocked: o("task_struct", "blocked")?,
        task_exit_code: o("task_struct", "exit_code")?,
        task_files: o("task_struct", "files")?,
        files_fdt: o("files_struct", "fdt")?,
        fdt_fd: o("fdtable", "fd")?,
        fdt_max_fds: o("fdtable", "max_fds")?,
        file_inode: o("file", "f_inode")?,
        file_private: o("file", "private_data")?,
        inode_ino: o("inode", "i_ino")?,
        inode_mode: o("inode", "i_mode")?,
        socket_sk: o("socket", "sk")?,
        sk_family: o("sock", "__sk_common.skc_family")?,
        unix_peer: o("unix_sock", "peer")?,
        unix_addr: o("unix_sock", "addr")?,
        addr_len: o("unix_address", "len")?,
        addr_name: o("unix_address", "name")?,
        _pad: 0,
    })
}

/// Ok when the probes can read tasks and fds in the kernel (for doctor). CTRACE_NO_BTF_OFFSETS
/// forces the /proc fallback, as for the origin header.
pub fn btf_check() -> Result<()> {
    if std::env::var_os("CTRACE_NO_BTF_OFFSETS").is_some() {
        anyhow::bail!("CTRACE_NO_BTF_OFFSETS is set");
    }
    offsets_from(Btf::kernel()?).map(|_| ())
}

/// Gives the probes their offsets; Err (and the /proc fallback) on a kernel without BTF.
pub fn set_offsets(ebpf: &mut Ebpf) -> Result<()> {
    btf_check()?;
    let offsets = offsets_from(Btf::kernel()?)?;
    let mut m: Array<&mut MapData, Offsets> = ebpf
        .map_mut(OFFSETS)
        .context("the sigpipe offsets map is missing")?
        .try_into()?;
    m.set(0, offsets, 0)?;
    Ok(())
}

/// Exact counts of one process (or all), from the kernel's per-CPU totals.
#[derive(serde::Serialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Every SIGPIPE generated, whatever became of it.
    pub generated: u64,
    /// Queued for delivery (the thread does not block it).
    pub queued: u64,
    /// Queued while the thread blocks SIGPIPE: it stays pending.
    pub blocked: u64,
    /// Discarded at generation: SIGPIPE is ignored.
    pub ignored: u64,
    /// Merged with a SIGPIPE already pending.
    pub already_pending: u64,
    /// Delivered to the default action (which terminates), to a handler, or to SIG_IGN.
    pub delivered_default: u64,
    pub delivered_handler: u64,
    pub delivered_ignore: u64,
    /// The process died of SIGPIPE.
    pub deaths: u64,
}

impl Totals {
    fn add(&mut self, what: u32, n: u64) {
        match what {
            w if w <= result::LOSE_INFO as u32 || w == total::GEN_BLOCKED => {
                self.generated += n;
                match w as i32 {
                    result::IGNORED => self.ignored += n,
                    result::ALREADY_PENDING => self.already_pending += n,
                    _ if w == total::GEN_BLOCKED => self.blocked += n,
                    _ => self.queued += n,
                }
            }
            total::DELIVER_DEFAULT => self.delivered_default += n,
            total::DELIVER_HANDLER => self.delivered_handler += n,
            total::DELIVER_IGNORE => self.delivered_ignore += n,
            total::DIED => self.deaths += n,
            _ => {}
        }
    }

    pub fn merge(&mut self, o: &Totals) {
        for (a, b) in [
            (&mut self.generated, o.generated),
            (&mut self.queued, o.queued),
            (&mut self.blocked, o.blocked),
            (&mut self.ignored, o.ignored),
            (&mut self.already_pending, o.already_pending),
            (&mut self.delivered_default, o.delivered_default),
            (&mut self.delivered_handler, o.delivered_handler),
            (&mut self.delivered_ignore, o.delivered_ignore),
            (&mut self.deaths, o.deaths),
        ] {
            *a += b;
        }
    }
}

/// Totals per process, summed over the CPUs.
pub fn read_totals(ebpf: &Ebpf) -> BTreeMap<u32, Totals> {
    let mut out: BTreeMap<u32, Totals> = BTreeMap::new();
    let Some(Ok(m)) = ebpf
        .map(TOTALS)
        .map(PerCpuHashMap::<&MapData, TotalKey, u64>::try_from)
    else {
        return out;
    };
    for (k, per_cpu) in m.iter().filter_map(Result::ok) {
        out.entry(k.tgid)
            .or_default()
            .add(k.what, per_cpu.iter().sum());
    }
    out
}

/// Forgets the totals of processes that are gone (a long-lived agent).
pub fn forget_totals(ebpf: &mut Ebpf, alive: impl Fn(u32) -> bool) {
    let Some(Ok(mut m)) = ebpf
        .map_mut(TOTALS)
        .map(PerCpuHashMap::<&mut MapData, TotalKey, u64>::try_from)
    else {
        return;
    };
    let dead: Vec<TotalKey> = m
        .keys()
        .filter_map(Result::ok)
        .filter(|k| !alive(k.tgid))
        .collect();
    for k in dead {
        let _ = m.remove(&k);
    }
}

const S_IFMT: u32 = 0o170000;

/// The fd as the kernel saw it at the event (None when it could not read it).
pub fn fd_of_event(ev: &SigpipeEvent) -> Option<FdInfo> {
    if ev.facts & fact::FD == 0 {
        return None;
    }
    let kind = match ev.mode & S_IFMT {
        0o010000 => "pipe",
        0o140000 => match ev.family as i32 {
            libc::AF_UNIX => "unix",
            libc::AF_INET | libc::AF_INET6 => "tcp",
            _ => "other",
        },
        0o100000 => "file",
        _ => "other",
    };
    Some(FdInfo {
        kind,
        inode: Some(ev.ino),
        local: None,
        peer: peer_path(&ev.peer),
    })
}

fn peer_path(raw: &[u8; PEER_LEN]) -> Option<String> {
    match raw {
        [0, rest @ ..] => {
            let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
            (end > 0).then(|| format!("@{}", String::from_utf8_lossy(&rest[..end])))
        }
        _ => {
            let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
            Some(String::from_utf8_lossy(&raw[..end]).into_owned())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_by_key() {
        let mut t = Totals::default();
        t.add(0, 3);
        t.add(total::GEN_BLOCKED, 2);
        t.add(result::ALREADY_PENDING as u32, 5);
        t.add(total::DIED, 1);
        assert_eq!(
            (
                t.generated,
                t.queued,
                t.blocked,
                t.already_pending,
                t.deaths
            ),
            (10, 3, 2, 5, 1)
        );
    }

    #[test]
    fn peer_paths() {
        let mut raw = [0u8; PEER_LEN];
        raw[..5].copy_from_slice(b"/a/b\0");
        assert_eq!(peer_path(&raw).as_deref(), Some("/a/b"));
        raw[..4].copy_from_slice(b"\0xy\0");
        assert_eq!(peer_path(&raw).as_deref(), Some("@xy"));
    }
}
