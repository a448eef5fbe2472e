//! overlay during `ctrace trace`: drain the calls, prove copy-ups from the upper layer, record
//! EXDEV renames.

use std::collections::HashSet;

use anyhow::Result;
use aya::Ebpf;
use tracer_common::overlay::{EVENTS, EXDEV, OverlayEvent, PATH_LEN};

use super::{
    analyzer::{Analyzer, CopyUp, ExdevRename, OverlayReport},
    is_rename,
    kernel_tier::{self, CopyUpProbe, TierCheck},
    module_param,
    mounts::{self, Mount},
    trigger,
};
use crate::{
    attach::Attachment,
    attrib::Attributor,
    events::{self, Clock, comm_str},
    seccomp::analyzer::syscall_name,
    shared::{Finding, ProbeInfo},
    syscalls,
    tier::{Features, Tier},
};

/// Inode times come from the coarse clock (a tick behind): the upper copy may look born before
/// the call that made it.
const BIRTH_SLACK_S: f64 = 0.025;

pub struct OverlayRun {
    ring: events::Ring,
    /// The dispatcher's tier and programs.
    probe: ProbeInfo,
    links: Vec<Attachment>,
    analyzer: Analyzer,
    clock: Clock,
    /// Upper copies already counted, by path and birth time: a file is copied up once.
    counted: HashSet<(String, u64)>,
    tier: Tier,
    /// Kernel tier: both tiers' answers.
    check: TierCheck,
}

fn path_str(b: &[u8; PATH_LEN]) -> String {
    let n = b.iter().position(|&c| c == 0).unwrap_or(PATH_LEN);
    String::from_utf8_lossy(&b[..n]).into_owned()
}

fn in_lower(m: &Mount, rel: &str) -> Option<mounts::Stat> {
    m.lower
        .iter()
        .find_map(|l| mounts::stat(&format!("{l}/{rel}")))
}

impl OverlayRun {
    pub fn start(
        ebpf: &mut Ebpf,
        syscalls: Option<&syscalls::Shared>,
        features: Features,
        wish: Option<Tier>,
    ) -> Result<OverlayRun> {
        let mut links = Vec::new();
        let tier = match CopyUpProbe::attach(ebpf, features, wish)? {
            Some(k) => {
                links.extend(k.links());
                Tier::Kprobe
            }
            None => Tier::Tracepoint,
        };
        let ring = events::ring(ebpf, EVENTS, tracer_common::Drop::OverlayQueueFull)?;
        Ok(OverlayRun {
            ring,
            probe: syscalls::probe_info("overlay", syscalls),
            links,
            analyzer: Analyzer::default(),
            clock: Clock::new(),
            counted: HashSet::new(),
            tier,
            check: TierCheck::default(),
        })
    }

    pub fn probe_info(&self) -> ProbeInfo {
        let mut p = self.probe.clone();
        p.programs.extend(events::program_names(&self.links));
        p.tier = self.tier.name().into();
        p
    }

    /// `parent_of` finds the parent of a process that has already exited (as `cp` or `chmod`
    /// in a container have by the time their call is drained): its mounts are those of the
    /// nearest living ancestor, in the same mount namespace for any process ctrace can attribute.
    pub fn poll(&mut self, attrib: &mut Attributor, parent_of: &dyn Fn(u32) -> Option<u32>) {
        for ev in events::drain::<OverlayEvent>(&mut self.ring) {
            self.analyzer.checked += 1;
            self.check.kernel_copy_ups += u64::from(ev.copy_ups);
            let viewer = events::living_ancestor(ev.tgid, parent_of);
            self.handle(&ev, viewer, attrib);
        }
    }

    fn handle(&mut self, ev: &OverlayEvent, viewer: u32, attrib: &mut Attributor) {
        let syscall = syscall_name(ev.nr as u32);
        let path = path_str(&ev.path);
        log::debug!(
            "overlay: {syscall}({path}) = {} by {} (seen as {viewer})",
            ev.ret,
            ev.tgid
        );
        let Some(abs) = mounts::resolve(viewer, ev.dfd, &path) else {
            return;
        };
        let mounts = mounts::mounts_of(viewer);
        let Some(m) = mounts::mount_of(&mounts, &abs).filter(|m| m.fstype == "overlay") else {
            return;
        };
        let rel = mounts::relative(m, &abs).to_string();
        let comm = comm_str(&ev.comm);
        let at = self.clock.unix(ev.enter_ns);
        if is_rename(&syscall) && ev.ret == -EXDEV {
            let target = mounts::resolve(viewer, ev.dfd2, &path_str(&ev.path2)).unwrap_or_default();
            self.analyzer.exdev.push(ExdevRename {
                at,
                pid: ev.tgid,
                comm,
                container: attrib.container_of_origin(&ev.origin, viewer),
                source: abs,
                target,
                source_is_lower_dir: in_lower(m, &rel).is_some_and(|s| s.is_dir),
                redirect_dir_param: module_param("redirect_dir"),
                mount_redirect_dir: m.redirect_dir.clone(),
            });
            return;
        }
        if ev.ret < 0 {
            return;
        }
        // A rename moved the copy to the new name; everything else leaves it where it was.
        let now_at = if is_rename(&syscall) {
            mounts::resolve(viewer, ev.dfd2, &path_str(&ev.path2))
                .map(|p| mounts::relative(m, &p).to_string())
        } else {
            Some(rel.clone())
        };
        let (Some(upper), Some(now_at)) = (m.upper.as_deref(), now_at) else {
            return;
        };
        log::debug!(
            "overlay: {abs} on {} (upper {upper}/{now_at})",
            m.mount_point
        );
        let Some(copy) = mounts::stat(&format!("{upper}/{now_at}")) else {
            return;
        };
        let born = copy.btime.unwrap_or(copy.ctime);
        let done = self.clock.unix(ev.exit_ns);
        log::debug!("overlay: {syscall} {abs}: upper born {born:.6}, call {at:.6}..{done:.6}");
        // Proof: the upper copy was born during this call, the file exists in a lower layer, and
        // this copy was not counted for an earlier call.
        let during = born + BIRTH_SLACK_S >= at && born <= done + BIRTH_SLACK_S;
        let proven = !copy.is_dir && during && in_lower(m, &rel).is_some();
        if !proven
            || !self
                .counted
                .insert((format!("{upper}/{now_at}"), born.to_bits()))
        {
            if ev.copy_ups > 0 {
                self.check.timed_not_proven += 1;
            }
            return;
        }
        self.analyzer.copy_ups.push(CopyUp {
            at,
            pid: ev.tgid,
            comm,
            container: attrib.container_of_origin(&ev.origin, viewer),
            path: abs,
            size: copy.size,
            latency_ns: ev.exit_ns.saturating_sub(ev.enter_ns),
            copy_up_ns: (self.tier != Tier::Tracepoint).then_some(ev.copy_up_ns),
            trigger: trigger(&syscall).to_string(),
            upper: upper.to_string(),
            upper_free: mounts::free_bytes(upper),
        });
    }

    pub fn analyzer(&self) -> &Analyzer {
        &self.analyzer
    }

    /// Keeps the newest `keep` copy-ups and EXDEV renames, never dropping one not yet counted
    /// elsewhere (`absorbed` leading records are). Returns (copy-ups, renames) dropped.
    pub fn trim(&mut self, keep: usize, absorbed: (usize, usize)) -> (usize, usize) {
        let a = &mut self.analyzer;
        let c = a.copy_ups.len().saturating_sub(keep).min(absorbed.0);
        a.copy_ups.drain(..c);
        let e = a.exdev.len().saturating_sub(keep).min(absorbed.1);
        a.exdev.drain(..e);
        // A second guard only: copy-ups are proven by the upper file's birth time.
        if self.counted.len() > keep * 4 {
            self.counted.clear();
        }
        (c, e)
    }

    pub fn live(&self) -> String {
        let bytes: u64 = self.analyzer.copy_ups.iter().map(|c| c.size).sum();
        format!(
            "overlay: {} copy-ups ({:.1} MiB), {} EXDEV renames, {} calls checked",
            self.analyzer.copy_ups.len(),
            bytes as f64 / (1 << 20) as f64,
            self.analyzer.exdev.len(),
            self.analyzer.checked
        )
    }

    pub fn report(
        &mut self,
        ebpf: &Ebpf,
        attrib: &mut Attributor,
        parent_of: &dyn Fn(u32) -> Option<u32>,
    ) -> (OverlayReport, Vec<Finding>) {
        self.poll(attrib, parent_of);
        let (mut r, findings) = self.analyzer.report();
        r.tier = self.tier.name();
        if self.tier != Tier::Tracepoint {
            let mut c = self.check.clone();
            match kernel_tier::missed(ebpf) {
                Ok((n, ns)) => (c.outside_traced_calls, c.outside_traced_ns) = (n, ns),
                Err(e) => log::warn!("overlay: {e:#}"),
            }
            let pairs: Vec<(u64, Option<u64>)> = self
                .analyzer
                .copy_ups
                .iter()
                .map(|c| (c.latency_ns, c.copy_up_ns))
                .collect();
            kernel_tier::compare(&mut c, &pairs);
            r.tier_check = Some(c);
        }
        (r, findings)
    }
}
