//! overlay during `ctrace trace`: drain the calls, prove copy-ups from the upper layer, record
//! EXDEV renames.

use std::collections::HashSet;

use anyhow::Result;
use aya::Ebpf;
use tracer_common::{
    overlay::{EDQUOT, ENOSPC, EVENTS, EXDEV, OVERLAYFS_MAGIC, OverlayEvent},
    syscalls::nr,
};

use super::{
    analyzer::{Analyzer, CopyUp, ExdevRename, HardlinkBreak, OverlayReport, StaleMapping},
    is_rename,
    kernel_tier::{self, CopyUpProbe, TierCheck},
    layers,
    metacopy::{self, Metacopied},
    module_param,
    mount_tables::MountTables,
    mounts,
    paths::{self, Source},
    stale::Stale,
    trigger,
};
use crate::{
    attach::Attachment,
    attrib::Attributor,
    events::{self, Clock, comm_str, syscall_name},
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
    /// Upper files a metadata-only copy-up left without their data: a later write copies it.
    metacopied: Metacopied,
    tier: Tier,
    /// Kernel tier: both tiers' answers.
    check: TierCheck,
    /// Shared mappings of overlay files (None: the map is missing).
    stale: Option<Stale>,
    tables: MountTables,
}

/// open(2)'s O_TRUNC: the copy-up copies no data.
const O_TRUNC: u64 = 0o1000;

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
        let stale = Stale::take(ebpf)
            .inspect_err(|e| log::warn!("overlay: {e:#}"))
            .ok();
        Ok(OverlayRun {
            ring,
            probe: syscalls::probe_info("overlay", syscalls),
            links,
            analyzer: Analyzer::default(),
            clock: Clock::new(),
            counted: HashSet::new(),
            metacopied: Metacopied::default(),
            tier,
            check: TierCheck::default(),
            stale,
            tables: MountTables::default(),
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
        self.tables.watch();
        for ev in events::drain::<OverlayEvent>(&mut self.ring) {
            self.analyzer.checked += 1;
            self.check.kernel_copy_ups += u64::from(ev.copy_ups);
            let viewer = events::living_ancestor(ev.origin.tgid, parent_of);
            self.handle(&ev, viewer, attrib);
        }
    }

    fn handle(&mut self, ev: &OverlayEvent, viewer: u32, attrib: &mut Attributor) {
        let syscall = syscall_name(ev.nr as u32);
        let paths = paths::of(ev, viewer);
        log::debug!(
            "overlay: {syscall}({:?}) = {} by {} ({:?}, mntns {}, root dev {:?}, seen as {viewer})",
            paths.first,
            ev.ret,
            ev.origin.tgid,
            paths.source,
            ev.origin.mntns,
            super::host_overlays::split_dev(ev.root_dev),
        );
        // An fd on another filesystem (the kernel read its superblock).
        if paths.fd_based && ev.magic != OVERLAYFS_MAGIC {
            return;
        }
        let Some(abs) = paths.first.clone() else {
            return;
        };
        let mounts = self.tables.of(
            ev.origin.mntns,
            ev.origin.tgid,
            viewer,
            ev.enter_ns,
            ev.root_dev,
        );
        let Some(m) = mounts::mount_of(&mounts, &abs).filter(|m| m.fstype == "overlay") else {
            return;
        };
        let rel = mounts::relative(m, &abs).to_string();
        let lower = layers::in_lower(m, &rel);
        let mut rec = CopyUp {
            at: self.clock.unix(ev.enter_ns),
            pid: ev.origin.tgid,
            comm: comm_str(&ev.origin.comm),
            container: attrib.container_of_origin(&ev.origin, viewer),
            path: abs.clone(),
            latency_ns: ev.exit_ns.saturating_sub(ev.enter_ns),
            trigger: trigger(&syscall).to_string(),
            upper: m.upper.clone().unwrap_or_default(),
            upper_free: m.upper.as_deref().and_then(mounts::free_bytes),
            evidence: match paths.source {
                Source::Kernel => "kernel",
                Source::Proc => "proc",
            },
            ..Default::default()
        };
        if is_rename(&syscall) && ev.ret == -EXDEV {
            let target = paths.second.clone().unwrap_or_default();
            let tm = mounts::mount_of(&mounts, &target);
            self.analyzer.exdev.push(ExdevRename {
                engine_probe: super::section::is_engine_probe(&abs),
                at: rec.at,
                pid: rec.pid,
                comm: rec.comm,
                container: rec.container,
                source: abs,
                source_is_lower_dir: lower.as_ref().is_some_and(|(_, s)| s.is_dir),
                // Whether the target is on a volume is unknown once the namespace is gone.
                same_mount: !m.inferred && tm.is_some_and(|t| t.mount_point == m.mount_point),
                target_mount: tm.map(|t| t.mount_point.clone()),
                target,
                redirect_dir_param: module_param("redirect_dir"),
                mount_redirect_dir: m.redirect_dir.clone(),
            });
            return;
        }
        let Some((layer, lst)) = lower.filter(|(_, s)| !s.is_dir) else {
            return;
        };
        // The size the copy needs: the lower file's, before the call.
        rec.size = if paths.fd_based && ev.size >= 0 {
            ev.size as u64
        } else {
            lst.size
        };
        if ev.ret == -ENOSPC || ev.ret == -EDQUOT {
            // Failed for space: the call failed and no upper copy was left behind.
            if mounts::stat(&format!("{}/{rel}", rec.upper)).is_none() {
                rec.error = Some(if ev.ret == -ENOSPC {
                    "ENOSPC"
                } else {
                    "EDQUOT"
                });
                self.analyzer.failed.push(rec);
            }
            return;
        }
        if ev.ret < 0 {
            return;
        }
        // A rename moved the copy to the new name; everything else leaves it where it was.
        let now_at = if is_rename(&syscall) {
            paths
                .second
                .as_deref()
                .map(|p| mounts::relative(m, p).to_string())
        } else {
            Some(rel.clone())
        };
        let (Some(upper), Some(now_at)) = (m.upper.as_deref(), now_at) else {
            return;
        };
        let upper_file = format!("{upper}/{now_at}");
        let Some(copy) = mounts::stat(&upper_file) else {
            return;
        };
        let born = copy.btime.unwrap_or(copy.ctime);
        let done = self.clock.unix(ev.exit_ns);
        let data = rec.trigger == "open for write" || rec.trigger == "truncate";
        let truncating = ev.nr as u32 == nr::CREAT || ev.flags & O_TRUNC != 0;
        // Before the birth-time proof: a write just after a metadata-only copy-up finds an
        // upper file born within the inode clock's slack, already counted.
        if data {
            let call = metacopy::Call {
                upper_file: &upper_file,
                after: &copy,
                at: rec.at,
                slack: BIRTH_SLACK_S,
                kernel_copy_ups: (self.tier != Tier::Tracepoint).then_some(ev.copy_ups),
                metacopy_on: layers::metacopy_on(m),
            };
            if let Some(how) = self.metacopied.completed_by(&call) {
                // The whole lower file (rec.size), unless an O_TRUNC open asked for none of it.
                if rec.trigger == "open for write" && truncating {
                    rec.size = 0;
                }
                rec.completes_metacopy = Some(how);
                rec.copy_up_ns = (self.tier != Tier::Tracepoint).then_some(ev.copy_up_ns);
                self.analyzer.copy_ups.push(rec);
                return;
            }
        }
        log::debug!(
            "overlay: {syscall} {abs}: upper born {born:.6}, call {:.6}..{done:.6}",
            rec.at
        );
        // Proof: the upper copy was born during this call, the file exists in a lower layer, and
        // this copy was not counted for an earlier call.
        let during = born + BIRTH_SLACK_S >= rec.at && born <= done + BIRTH_SLACK_S;
        // Without a birth time (tmpfs on 5.10, for one) the change time stands in, and any
        // write just after the call moves it: where the kernel tier timed the call, its count
        // of copy-ups decides.
        let kernel_saw_none =
            copy.btime.is_none() && self.tier != Tier::Tracepoint && ev.copy_ups == 0;
        if copy.is_dir
            || !during
            || kernel_saw_none
            || !self
                .counted
                .insert((format!("{upper}/{now_at}"), born.to_bits()))
        {
            if ev.copy_ups > 0 {
                self.check.timed_not_proven += 1;
            }
            return;
        }
        if rec.trigger == "open for write" && truncating {
            rec.size = 0;
        } else if !data && layers::metacopy_on(m) {
            (rec.size, rec.metadata_only) = (0, true);
            self.metacopied.remember(upper_file, copy.ino);
        }
        rec.copy_up_ns = (self.tier != Tier::Tracepoint).then_some(ev.copy_up_ns);
        if lst.nlink > 1 && !layers::index_on(m) {
            self.analyzer.hardlinks.push(HardlinkBreak {
                at: rec.at,
                pid: rec.pid,
                comm: rec.comm.clone(),
                container: rec.container.clone(),
                path: abs,
                nlink: lst.nlink,
                other_names: layers::other_names(m, layer, &rel, &lst),
                index_param: module_param("index"),
                mount_index: m.index.clone(),
            });
        }
        if let Some(st) = &self.stale {
            let lower_path = format!("{layer}/{rel}");
            for h in st.holders(m.dev, lst.dev, lst.ino, ev.origin.tgid, &lower_path) {
                self.analyzer.stale.push(StaleMapping {
                    at: rec.at,
                    pid: rec.pid,
                    comm: rec.comm.clone(),
                    container: rec.container.clone(),
                    path: rec.path.clone(),
                    holder_pid: h.pid,
                    holder_comm: h.comm,
                    holder_how: h.how,
                    mapping_age_s: h
                        .since_ns
                        .map(|t| (ev.enter_ns.saturating_sub(t)) as f64 / 1e9),
                    kernel_rule: st.kernel_rule(),
                });
            }
        }
        self.analyzer.copy_ups.push(rec);
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
        let f = a.failed.len().saturating_sub(keep);
        a.failed.drain(..f);
        let h = a.hardlinks.len().saturating_sub(keep);
        a.hardlinks.drain(..h);
        let s = a.stale.len().saturating_sub(keep);
        a.stale.drain(..s);
        // A second guard only: copy-ups are proven by the upper file's birth time.
        if self.counted.len() > keep * 4 {
            self.counted.clear();
        }
        // Forgotten metacopies: their data copy-up is then seen in the kernel tier only.
        if self.metacopied.len() > keep * 4 {
            self.metacopied.clear();
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
