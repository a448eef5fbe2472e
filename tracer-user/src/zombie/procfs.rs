//! What /proc and the cgroup filesystem say about processes, zombies and pid limits.

use std::{fs, os::unix::fs::MetadataExt as _};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcStatus {
    pub name: String,
    pub state: char,
    pub ppid: u32,
    /// The pid in each nested pid namespace, outermost first; the last is the innermost.
    pub nspid: Vec<u32>,
}

impl ProcStatus {
    /// PID 1 of its own pid namespace (a container's init, or the host's).
    pub fn is_ns_init(&self) -> bool {
        self.nspid.last() == Some(&1)
    }
}

pub fn parse_status(text: &str) -> Option<ProcStatus> {
    let mut s = ProcStatus::default();
    for line in text.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.trim();
        match k {
            "Name" => s.name = v.to_string(),
            "State" => s.state = v.chars().next()?,
            "PPid" => s.ppid = v.parse().ok()?,
            "NSpid" => {
                s.nspid = v
                    .split_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .collect()
            }
            _ => {}
        }
    }
    (s.state != '\0').then_some(s)
}

pub fn read_status(pid: u32) -> Option<ProcStatus> {
    parse_status(&fs::read_to_string(format!("/proc/{pid}/status")).ok()?)
}

/// Whether a process is a zombie now (State in /proc/PID/stat, one short read).
pub fn is_zombie(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| Some(s[s.rfind(')')? + 1..].trim_start().starts_with('Z')))
        .unwrap_or(false)
}

pub fn pidns_of(pid: u32) -> Option<u64> {
    fs::metadata(format!("/proc/{pid}/ns/pid"))
        .ok()
        .map(|m| m.ino())
}

/// Every zombie now, with its status. The short stat read decides; only zombies' status
/// (which the kernel formats at length, memory figures included) is read.
pub fn zombies_now() -> Vec<(u32, ProcStatus)> {
    crate::node::pids()
        .into_iter()
        .filter(|p| is_zombie(*p))
        .filter_map(|p| Some((p, read_status(p)?)))
        .filter(|(_, s)| s.state == 'Z')
        .collect()
}

/// Processes that are PID 1 of a pid namespace other than ctrace's own (container inits).
pub fn namespace_inits() -> Vec<(u32, ProcStatus)> {
    let own = pidns_of(std::process::id());
    crate::node::pids()
        .into_iter()
        .filter_map(|p| Some((p, read_status(p)?)))
        .filter(|(p, s)| s.is_ns_init() && s.nspid.len() > 1 && pidns_of(*p) != own)
        .collect()
}

/// The path of the pids controller's cgroup in a /proc/PID/cgroup text, and whether it is v2.
pub fn pids_cgroup(proc_cgroup: &str) -> Option<(String, bool)> {
    let mut v2 = None;
    for line in proc_cgroup.lines() {
        let mut f = line.splitn(3, ':');
        let (id, ctrls, path) = (f.next()?, f.next()?, f.next()?);
        if ctrls.split(',').any(|c| c == "pids") {
            return Some((path.to_string(), false));
        }
        if id == "0" && ctrls.is_empty() {
            v2 = Some((path.to_string(), true));
        }
    }
    v2
}

/// pids.max (None: "max") and pids.current of a process's cgroup.
pub fn pids_limit(pid: u32) -> Option<(Option<u64>, u64)> {
    let (path, v2) = pids_cgroup(&fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?)?;
    let roots: &[&str] = if v2 {
        &["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]
    } else {
        &["/sys/fs/cgroup/pids"]
    };
    roots.iter().find_map(|root| {
        let dir = format!("{root}{path}");
        let current = fs::read_to_string(format!("{dir}/pids.current"))
            .ok()?
            .trim()
            .parse()
            .ok()?;
        let max = fs::read_to_string(format!("{dir}/pids.max")).ok()?;
        Some((max.trim().parse().ok(), current))
    })
}

/// Tasks on the node now (the total in /proc/loadavg).
pub fn node_tasks() -> Option<u64> {
    let t = fs::read_to_string("/proc/loadavg").ok()?;
    t.split_whitespace().nth(3)?.split('/').nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_of_a_zombie_in_a_container() {
        let text = "Name:\tsleep\nUmask:\t0022\nState:\tZ (zombie)\nTgid:\t900\nPPid:\t812\nNSpid:\t900\t7\n";
        let s = parse_status(text).unwrap();
        assert_eq!((s.name.as_str(), s.state, s.ppid), ("sleep", 'Z', 812));
        assert_eq!(s.nspid, vec![900, 7]);
        assert!(!s.is_ns_init());
        let init =
            parse_status("Name:\ttini\nState:\tS (sleeping)\nPPid:\t0\nNSpid:\t812\t1\n").unwrap();
        assert!(init.is_ns_init());
    }

    #[test]
    fn pids_cgroup_v1_hybrid_and_v2() {
        let hybrid = "12:pids:/docker/abc\n4:memory:/docker/abc\n0::/\n";
        assert_eq!(pids_cgroup(hybrid), Some(("/docker/abc".into(), false)));
        let v2 = "0::/system.slice/docker-abc.scope\n";
        assert_eq!(
            pids_cgroup(v2),
            Some(("/system.slice/docker-abc.scope".into(), true))
        );
        assert_eq!(pids_cgroup("3:cpu,cpuacct:/x\n"), None);
    }
}
