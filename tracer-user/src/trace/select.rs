//! The processes a run is limited to (--pid, --comm, --container): checked before ctrace changes
//! anything on the node (bad input is one line and nothing else), then written into the
//! kernel's filter maps.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context as _, Result, bail};
use aya::{
    Ebpf,
    maps::{Array, HashMap as BpfHashMap, MapData, PerCpuArray},
};
use tracer_common::{COMM_LEN, Drop, filter, names};

use crate::{attrib::Attributor, cli::TraceArgs, node, out::Usage};

pub struct Selection {
    pub pids: BTreeSet<u32>,
    pub comms: Vec<[u8; COMM_LEN]>,
    /// (what the user typed, the container id it names)
    pub containers: Vec<(String, String)>,
    /// cgroup2 ids of the selected containers: the kernel filters on these from a process's
    /// first syscall (pids alone miss a `docker exec` until the next refresh).
    pub cgroups: BTreeSet<u64>,
}

impl Selection {
    pub fn resolve(args: &TraceArgs, attrib: &mut Attributor) -> Result<Selection> {
        let mut pids = BTreeSet::new();
        for &pid in &args.pids {
            let tgid = node::proc_status_field(pid, "Tgid")
                .and_then(|t| t.parse().ok())
                .ok_or_else(|| Usage(format!("unknown pid: {pid} (no such process)")))?;
            pids.insert(tgid);
        }
        args.check()?;
        // Names were checked by clap (1 to 15 bytes).
        let comms = args
            .comms
            .iter()
            .map(|name| {
                let mut c = [0u8; COMM_LEN];
                c[..name.len()].copy_from_slice(name.as_bytes());
                c
            })
            .collect();
        let mut containers = Vec::new();
        for arg in &args.containers {
            containers.push((arg.clone(), attrib.resolve_container(arg)?));
        }
        Ok(Selection {
            pids,
            comms,
            containers,
            cgroups: BTreeSet::new(),
        })
    }

    /// Adds the processes running in the selected containers now. Done as late as possible:
    /// a process forked between this scan and the fork hook's attach would escape the filter.
    pub fn scan_containers(&mut self, attrib: &mut Attributor) -> Result<()> {
        for (arg, id) in &self.containers {
            let members = attrib.pids_in_container(id);
            if members.is_empty() {
                bail!("container {arg} has no running processes");
            }
            self.pids.extend(members);
        }
        if !self.containers.is_empty() {
            attrib.scan_cgroups();
            for (_, id) in &self.containers {
                self.cgroups.extend(attrib.cgroup_ids_of(id));
            }
        }
        Ok(())
    }

    pub fn flags(&self) -> u32 {
        let mut f = 0;
        if !self.pids.is_empty() || !self.containers.is_empty() {
            f |= filter::BY_PID;
        }
        if !self.comms.is_empty() {
            f |= filter::BY_COMM;
        }
        if !self.cgroups.is_empty() {
            f |= filter::BY_CGROUP;
        }
        f
    }

    pub fn fill(&self, ebpf: &mut Ebpf) -> Result<()> {
        add_filter_pids(ebpf, &self.pids.iter().copied().collect::<Vec<_>>())?;
        let mut comms: BpfHashMap<&mut MapData, [u8; COMM_LEN], u8> = BpfHashMap::try_from(
            ebpf.map_mut(names::FILTER_COMMS)
                .context("comm map missing")?,
        )?;
        for c in &self.comms {
            comms.insert(*c, 1, 0)?;
        }
        add_filter_cgroups(ebpf, &self.cgroups)
    }

    /// Processes that joined a selected container since the last look (e.g. `docker exec`).
    /// Cgroups made in them since (a container's sub-cgroups) join the kernel's cgroup filter.
    pub fn refresh(&mut self, ebpf: &mut Ebpf, attrib: &mut Attributor) -> Result<()> {
        for (_, id) in &self.containers {
            let members = attrib.pids_in_container(id);
            add_filter_pids(ebpf, &members)?;
        }
        if self.cgroups.is_empty() {
            return Ok(());
        }
        let mut new = BTreeSet::new();
        for (_, id) in &self.containers {
            new.extend(attrib.cgroup_ids_of(id));
        }
        new.retain(|c| !self.cgroups.contains(c));
        add_filter_cgroups(ebpf, &new)?;
        self.cgroups.extend(new);
        Ok(())
    }
}

fn add_filter_cgroups(ebpf: &mut Ebpf, ids: &BTreeSet<u64>) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let mut map: BpfHashMap<&mut MapData, u64, u8> = BpfHashMap::try_from(
        ebpf.map_mut(tracer_common::origin::FILTER_CGROUPS)
            .context("cgroup filter map missing")?,
    )?;
    for id in ids {
        map.insert(id, 1, 0)
            .with_context(|| format!("cgroup filter: adding cgroup {id}"))?;
    }
    Ok(())
}

fn add_filter_pids(ebpf: &mut Ebpf, pids: &[u32]) -> Result<()> {
    let map = ebpf
        .map_mut(names::FILTER_PIDS)
        .context("filter map missing")?;
    let mut arr = Array::<&mut MapData, u8>::try_from(map)?;
    for &p in pids {
        arr.set(p, 1, 0)
            .with_context(|| format!("pid {p} is above kernel.pid_max"))?;
    }
    Ok(())
}

/// Sum of the per-CPU drop counters, by reason.
pub fn read_drops(ebpf: &Ebpf) -> BTreeMap<Drop, u64> {
    let mut out = BTreeMap::new();
    let Some(map) = ebpf.map(names::DROPS) else {
        return out;
    };
    let Ok(arr) = PerCpuArray::<&MapData, u64>::try_from(map) else {
        return out;
    };
    for why in Drop::ALL {
        if let Ok(v) = arr.get(&(why as u32), 0) {
            let n: u64 = v.iter().sum();
            if n > 0 {
                out.insert(why, n);
            }
        }
    }
    out
}
