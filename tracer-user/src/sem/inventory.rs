//! The semaphore sets that exist now, per IPC namespace: /proc/sysvipc/sem and
//! /proc/sys/kernel/sem read from a thread that has joined each namespace.

use std::{
    collections::BTreeMap,
    fs,
    os::{fd::AsRawFd as _, unix::fs::MetadataExt as _},
};

use anyhow::{Context as _, Result, bail};
use serde::Serialize;

/// kernel.sem: SEMMSL SEMMNS SEMOPM SEMMNI.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Limits {
    pub semmsl: u64,
    pub semmns: u64,
    pub semopm: u64,
    pub semmni: u64,
}

pub fn parse_limits(text: &str) -> Option<Limits> {
    let v: Vec<u64> = text
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    (v.len() == 4).then(|| Limits {
        semmsl: v[0],
        semmns: v[1],
        semopm: v[2],
        semmni: v[3],
    })
}

/// One row of /proc/sysvipc/sem, plus the pid of the last semop (semctl GETPID).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SetRow {
    pub key: i32,
    pub semid: i32,
    pub nsems: i32,
    /// Unix seconds of the last semop (0: never) and of the last change (creation at least).
    pub otime: i64,
    pub ctime: i64,
    pub last_pid: Option<u32>,
}

pub fn parse_sysvipc_sem(text: &str) -> Vec<SetRow> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() < 10 {
                return None;
            }
            Some(SetRow {
                key: f[0].parse().ok()?,
                semid: f[1].parse().ok()?,
                nsems: f[3].parse().ok()?,
                otime: f[8].parse().ok()?,
                ctime: f[9].parse().ok()?,
                last_pid: None,
            })
        })
        .collect()
}

/// The sets and limits of one IPC namespace.
#[derive(Clone, Debug, Default)]
pub struct NsInventory {
    pub ipc_ns: u64,
    pub limits: Option<Limits>,
    pub sets: Vec<SetRow>,
}

fn ipc_ns_of(pid: &str) -> Option<u64> {
    fs::metadata(format!("/proc/{pid}/ns/ipc"))
        .ok()
        .map(|m| m.ino())
}

pub fn own_ipc_ns() -> Option<u64> {
    ipc_ns_of("self")
}

/// Every IPC namespace some process is in, with one of its pids.
pub fn namespaces() -> BTreeMap<u64, u32> {
    let mut out = BTreeMap::new();
    for pid in crate::node::pids() {
        if let Some(ns) = ipc_ns_of(&pid.to_string()) {
            out.entry(ns).or_insert(pid);
        }
    }
    out
}

fn last_pid(semid: i32) -> Option<u32> {
    let r = unsafe { libc::semctl(semid, 0, libc::GETPID) };
    (r > 0).then_some(r as u32)
}

fn read_here(ipc_ns: u64) -> NsInventory {
    let limits = fs::read_to_string("/proc/sys/kernel/sem")
        .ok()
        .and_then(|t| parse_limits(&t));
    let mut sets = fs::read_to_string("/proc/sysvipc/sem")
        .map(|t| parse_sysvipc_sem(&t))
        .unwrap_or_default();
    for s in &mut sets {
        s.last_pid = last_pid(s.semid);
    }
    NsInventory {
        ipc_ns,
        limits,
        sets,
    }
}

/// Reads the namespace of `pid` from a short-lived thread that joins it (setns of an IPC
/// namespace is allowed per thread; /proc/sysvipc and kernel.sem follow the reader's namespace).
pub fn read_ns(ipc_ns: u64, pid: u32) -> Result<NsInventory> {
    if Some(ipc_ns) == own_ipc_ns() {
        return Ok(read_here(ipc_ns));
    }
    let f = fs::File::open(format!("/proc/{pid}/ns/ipc"))
        .with_context(|| format!("process {pid} is gone"))?;
    std::thread::spawn(move || {
        if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWIPC) } != 0 {
            bail!(
                "setns into IPC namespace {ipc_ns}: {}",
                std::io::Error::last_os_error()
            );
        }
        Ok(read_here(ipc_ns))
    })
    .join()
    .map_err(|_| anyhow::anyhow!("inventory thread panicked"))?
}

/// All namespaces; those that vanish meanwhile are skipped.
pub fn read_all() -> Vec<NsInventory> {
    namespaces()
        .into_iter()
        .filter_map(|(ns, pid)| read_ns(ns, pid).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_limits() {
        assert_eq!(
            parse_limits("32000\t1024000000\t500\t32000\n"),
            Some(Limits {
                semmsl: 32000,
                semmns: 1024000000,
                semopm: 500,
                semmni: 32000
            })
        );
        assert_eq!(parse_limits("1 2 3"), None);
    }

    #[test]
    fn parses_sysvipc_rows() {
        let text = "       key      semid perms      nsems   uid   gid  cuid  cgid      otime      ctime\n\
                    223150080          3   600          1     0     0     0     0          0 1700000000\n\
                           -1          4   600          2     0     0     0     0 1700000100 1700000000\n";
        let rows = parse_sysvipc_sem(text);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].key, 0x0d4d_0000);
        assert_eq!((rows[0].semid, rows[0].nsems, rows[0].otime), (3, 1, 0));
        assert_eq!(
            (rows[1].key, rows[1].otime, rows[1].ctime),
            (-1, 1700000100, 1700000000)
        );
    }
}
