//! overlay analyzer: proven copy-ups and EXDEV renames, per container; the findings.
//! Pure: fed recorded observations.

use super::explain;
pub use super::section::{
    CopyUp, ExdevRename, GroupReport, HardlinkBreak, OverlayReport, StaleMapping,
};
use crate::{
    attrib::{Container, Origin},
    hist::Log2Hist,
    problem::finding_kind,
    shared::{Finding, Severity, Subject},
};

/// A copy-up this large, or this slow, makes a finding.
pub const LARGE_BYTES: u64 = 1 << 20;
pub const SLOW_NS: u64 = 10_000_000;

#[derive(Default)]
pub struct Analyzer {
    pub copy_ups: Vec<CopyUp>,
    pub exdev: Vec<ExdevRename>,
    /// Copy-ups that failed for space (ENOSPC, EDQUOT).
    pub failed: Vec<CopyUp>,
    pub hardlinks: Vec<HardlinkBreak>,
    pub stale: Vec<StaleMapping>,
    pub checked: u64,
}

fn hist_of<'a>(it: impl Iterator<Item = &'a CopyUp>) -> Log2Hist {
    let mut h = Log2Hist::default();
    for c in it {
        h.slots[tracer_common::seccomp::log2_slot(c.latency_ns)] += 1;
    }
    h
}

/// The exact nearest-rank percentile of the copy-ups' latencies (each is kept whole): the log2
/// histogram's bucket can be off by up to twice the real figure.
fn percentile<'a>(it: impl Iterator<Item = &'a CopyUp>, p: f64) -> u64 {
    let mut v: Vec<u64> = it.map(|c| c.latency_ns).collect();
    if v.is_empty() {
        return 0;
    }
    v.sort_unstable();
    let rank = (p.clamp(0.0, 1.0) * v.len() as f64).ceil().max(1.0) as usize;
    v[rank.min(v.len()) - 1]
}

fn group_key(c: &Option<Container>) -> String {
    c.as_ref().map_or(String::new(), |c| c.id.clone())
}

impl Analyzer {
    pub fn report(&self) -> (OverlayReport, Vec<Finding>) {
        let mut keys: Vec<String> = self
            .copy_ups
            .iter()
            .map(|c| group_key(&c.container))
            .chain(self.exdev.iter().map(|e| group_key(&e.container)))
            .chain(self.failed.iter().map(|c| group_key(&c.container)))
            .chain(self.hardlinks.iter().map(|h| group_key(&h.container)))
            .chain(self.stale.iter().map(|h| group_key(&h.container)))
            .collect();
        keys.sort();
        keys.dedup();
        let mut groups = Vec::new();
        let mut findings = Vec::new();
        for key in keys {
            let cs: Vec<&CopyUp> = self
                .copy_ups
                .iter()
                .filter(|c| group_key(&c.container) == key)
                .collect();
            let es: Vec<&ExdevRename> = self
                .exdev
                .iter()
                .filter(|e| group_key(&e.container) == key)
                .collect();
            let fs: Vec<&CopyUp> = self
                .failed
                .iter()
                .filter(|c| group_key(&c.container) == key)
                .collect();
            let hs: Vec<&HardlinkBreak> = self
                .hardlinks
                .iter()
                .filter(|h| group_key(&h.container) == key)
                .collect();
            let ss: Vec<&StaleMapping> = self
                .stale
                .iter()
                .filter(|h| group_key(&h.container) == key)
                .collect();
            let container = cs
                .first()
                .and_then(|c| c.container.clone())
                .or_else(|| es.first().and_then(|e| e.container.clone()))
                .or_else(|| fs.first().and_then(|c| c.container.clone()))
                .or_else(|| hs.first().and_then(|h| h.container.clone()))
                .or_else(|| ss.first().and_then(|h| h.container.clone()));
            let h = hist_of(cs.iter().copied());
            let mut largest: Vec<CopyUp> = cs.iter().map(|c| (*c).clone()).collect();
            largest.sort_by_key(|c| std::cmp::Reverse(c.size));
            largest.truncate(5);
            let g = GroupReport {
                container_id: container.as_ref().map(|c| c.id.clone()),
                container_name: container.as_ref().and_then(|c| c.name.clone()),
                origin: Origin::of(container.as_ref()),
                copy_ups: cs.len(),
                bytes: cs.iter().map(|c| c.size).sum(),
                p50_latency_ns: percentile(cs.iter().copied(), 0.5),
                p99_latency_ns: percentile(cs.iter().copied(), 0.99),
                latency_hist_ns: h.buckets(),
                largest,
                upper_free: cs.iter().filter_map(|c| c.upper_free).min(),
                exdev_renames: es.len(),
            };
            let subject = |pid: u32, comm: &str| Subject {
                pid: Some(pid),
                comm: Some(comm.to_string()),
                container_id: g.container_id.clone(),
                container_name: g.container_name.clone(),
                origin: g.origin.clone(),
            };
            if let Some(big) = g.largest.first()
                && (big.size >= LARGE_BYTES || g.p99_latency_ns >= SLOW_NS)
            {
                let would_fail = g.upper_free.is_some_and(|f| f < big.size.saturating_mul(2));
                findings.push(Finding {
                    kind: finding_kind::OVERLAY_COPY_UP,
                    severity: if would_fail { Severity::Critical } else { Severity::Warning },
                    subject: subject(big.pid, &big.comm),
                    evidence: serde_json::json!({
                        "count": g.copy_ups,
                        "bytes": g.bytes,
                        "p50_latency_ns": g.p50_latency_ns,
                        "p99_latency_ns": g.p99_latency_ns,
                        "largest": g.largest.iter().map(|c| serde_json::json!({
                            "path": c.path, "size": c.size, "latency_ns": c.latency_ns, "trigger": c.trigger,
                        })).collect::<Vec<_>>(),
                        "upper_dir": big.upper,
                        "upper_free_bytes": g.upper_free,
                        "largest_vs_free": g.upper_free.map(|f| big.size as f64 / f.max(1) as f64),
                    }),
                    explanation: explain::copy_up_explanation(&g),
                    remediation: explain::copy_up_remediation(&g),
                });
            }
            findings.extend(more_findings(&fs, &hs, &subject));
            if let Some(first) = ss.first() {
                findings.push(Finding {
                    kind: finding_kind::OVERLAY_STALE_MAPPING,
                    severity: Severity::Warning,
                    subject: subject(first.pid, &first.comm),
                    evidence: serde_json::json!({
                        "count": ss.len(),
                        "copy_ups": ss.iter().take(20).collect::<Vec<_>>(),
                        "kernel_rule": first.kernel_rule,
                    }),
                    explanation: explain::stale_explanation(&ss),
                    remediation: explain::stale_remediation(),
                });
            }
            let raised: Vec<&ExdevRename> = es.iter().copied().filter(|e| e.is_finding()).collect();
            if let Some(first) = raised.first() {
                let es = raised.clone();
                findings.push(Finding {
                    kind: finding_kind::OVERLAY_EXDEV_RENAME,
                    severity: Severity::Warning,
                    subject: subject(first.pid, &first.comm),
                    evidence: serde_json::json!({
                        "count": es.len(),
                        "renames": es.iter().take(20).map(|e| serde_json::json!({
                            "source": e.source, "target": e.target, "source_is_lower_dir": e.source_is_lower_dir,
                            "pid": e.pid, "comm": e.comm,
                        })).collect::<Vec<_>>(),
                        "redirect_dir_param": first.redirect_dir_param,
                        "mount_redirect_dir": first.mount_redirect_dir,
                    }),
                    explanation: explain::exdev_explanation(&es),
                    remediation: explain::exdev_remediation(first),
                });
            }
            groups.push(g);
        }
        let all = hist_of(self.copy_ups.iter());
        let report = OverlayReport {
            checked: self.checked,
            copy_ups: self.copy_ups.len(),
            bytes: self.copy_ups.iter().map(|c| c.size).sum(),
            p99_latency_ns: percentile(self.copy_ups.iter(), 0.99),
            latency_hist_ns: all.buckets(),
            groups,
            exdev: self.exdev.clone(),
            exdev_cross_mount: self.exdev.iter().filter(|e| !e.same_mount).count(),
            failed: self.failed.clone(),
            hardlink_breaks: self.hardlinks.clone(),
            stale_mappings: self.stale.clone(),
            tier: "tracepoint",
            tier_check: None,
        };
        (report, findings)
    }
}

/// Copy-ups that failed for space (critical), and hard links broken by a copy-up.
fn more_findings(
    failed: &[&CopyUp],
    hardlinks: &[&HardlinkBreak],
    subject: &dyn Fn(u32, &str) -> Subject,
) -> Vec<Finding> {
    let mut out = Vec::new();
    if let Some(big) = failed.iter().max_by_key(|c| c.size) {
        out.push(Finding {
            kind: finding_kind::OVERLAY_COPY_UP,
            severity: Severity::Critical,
            subject: subject(big.pid, &big.comm),
            evidence: serde_json::json!({
                "failed": failed.iter().take(20).map(|c| serde_json::json!({
                    "path": c.path, "size": c.size, "error": c.error, "trigger": c.trigger,
                    "upper_free_bytes": c.upper_free, "pid": c.pid, "comm": c.comm,
                })).collect::<Vec<_>>(),
                "count": failed.len(),
                "upper_dir": big.upper,
                "size": big.size,
                "upper_free_bytes": big.upper_free,
            }),
            explanation: explain::failed_explanation(failed),
            remediation: explain::failed_remediation(big),
        });
    }
    if let Some(first) = hardlinks.first() {
        out.push(Finding {
            kind: finding_kind::OVERLAY_HARDLINK_BREAK,
            severity: Severity::Warning,
            subject: subject(first.pid, &first.comm),
            evidence: serde_json::json!({
                "count": hardlinks.len(),
                "files": hardlinks.iter().take(20).map(|h| serde_json::json!({
                    "path": h.path, "nlink": h.nlink, "other_names": h.other_names,
                    "pid": h.pid, "comm": h.comm,
                })).collect::<Vec<_>>(),
                "index_param": first.index_param,
                "mount_index": first.mount_index,
            }),
            explanation: explain::hardlink_explanation(hardlinks),
            remediation: explain::hardlink_remediation(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn copy(path: &str, size: u64, latency_ns: u64) -> CopyUp {
        CopyUp {
            at: 1.0,
            pid: 7,
            comm: "app".into(),
            container: Some(Container {
                id: "c1".into(),
                name: Some("web".into()),
                runtime: "docker".into(),
                k8s: Default::default(),
            }),
            path: path.into(),
            size,
            latency_ns,
            copy_up_ns: None,
            trigger: "open".into(),
            upper: "/u".into(),
            upper_free: Some(100 << 20),
            ..Default::default()
        }
    }

    #[test]
    fn large_copy_up_is_a_finding_small_fast_ones_are_not() {
        let mut a = Analyzer::default();
        a.copy_ups.push(copy("/etc/hosts", 200, 50_000));
        assert!(a.report().1.is_empty());
        a.copy_ups.push(copy("/data/big.db", 8 << 20, 40_000_000));
        let (r, f) = a.report();
        assert_eq!(r.copy_ups, 2);
        assert_eq!(r.groups[0].largest[0].path, "/data/big.db");
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, "overlay_copy_up");
        assert_eq!(f[0].severity, Severity::Warning);
        assert_eq!(f[0].evidence["count"], 2);
        assert_eq!(f[0].subject.container_name.as_deref(), Some("web"));
    }

    #[test]
    fn copy_up_larger_than_half_the_free_space_is_critical() {
        let mut a = Analyzer::default();
        let mut c = copy("/data/big.db", 60 << 20, 1_000);
        c.upper_free = Some(100 << 20);
        a.copy_ups.push(c);
        assert_eq!(a.report().1[0].severity, Severity::Critical);
    }

    #[test]
    fn exdev_renames_explain_redirect_dir() {
        let mut a = Analyzer::default();
        a.exdev.push(ExdevRename {
            pid: 9,
            comm: "mv".into(),
            source: "/app/cache".into(),
            target: "/app/cache.old".into(),
            source_is_lower_dir: true,
            same_mount: true,
            redirect_dir_param: Some("N".into()),
            mount_redirect_dir: None,
            ..Default::default()
        });
        // Across mounts, or a file: counted, not raised.
        for (same_mount, dir) in [(false, true), (true, false)] {
            a.exdev.push(ExdevRename {
                source: "/app/x".into(),
                same_mount,
                source_is_lower_dir: dir,
                ..Default::default()
            });
        }
        let (r, f) = a.report();
        assert_eq!((r.exdev.len(), r.exdev_cross_mount), (3, 1));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].evidence["count"], 1);
        assert_eq!(f[0].kind, "overlay_exdev_rename");
        assert!(f[0].explanation.contains("/app/cache"));
        assert!(f[0].remediation.contains("redirect_dir=on"));
    }

    #[test]
    fn copy_up_percentiles_are_the_exact_latencies() {
        let mut a = Analyzer::default();
        // 13 ms, 15 ms and 18 ms: one log2 bucket (8.4 to 16.8 ms) holds two of them.
        for (i, ns) in [13_000_000, 15_000_000, 18_000_000].into_iter().enumerate() {
            a.copy_ups.push(copy(&format!("/data/f{i}"), 20 << 20, ns));
        }
        let (r, _) = a.report();
        assert_eq!(r.p99_latency_ns, 18_000_000);
        assert_eq!(r.groups[0].p50_latency_ns, 15_000_000);
        assert_eq!(r.groups[0].p99_latency_ns, 18_000_000);
    }

    #[test]
    fn an_engines_start_up_probe_is_counted_never_raised() {
        let mut a = Analyzer::default();
        for (comm, path) in [
            (
                "dockerd",
                "/var/lib/docker/overlay2/opaque-bug-check2816/merged/d",
            ),
            (
                "podman",
                "/var/lib/containers/storage/overlay/opaque-bug-check77/merged/d",
            ),
            (
                "crio",
                "/var/lib/containers/storage/overlay/metacopy-check1/merged/f",
            ),
        ] {
            a.exdev.push(ExdevRename {
                pid: 9,
                comm: comm.into(),
                source: path.into(),
                target: format!("{path}2"),
                source_is_lower_dir: true,
                same_mount: true,
                engine_probe: crate::overlay::section::is_engine_probe(path),
                ..Default::default()
            });
        }
        let (r, f) = a.report();
        assert_eq!(r.exdev.len(), 3);
        assert!(f.is_empty(), "{f:?}");
        // An application's directory of the same name elsewhere is no probe.
        for app in [
            "/app/opaque-bug-check/merged/d",
            "/var/lib/docker/overlay2/abc123/merged/opaque-bug-check",
        ] {
            assert!(!crate::overlay::section::is_engine_probe(app), "{app}");
        }
    }

    #[test]
    fn a_copy_up_that_failed_for_space_is_critical() {
        let mut a = Analyzer::default();
        let mut c = copy("/data/big.db", 2 << 20, 1_000);
        (c.error, c.upper_free) = (Some("ENOSPC"), Some(1 << 20));
        a.failed.push(c);
        let (r, f) = a.report();
        assert_eq!(r.copy_ups, 0);
        assert_eq!(f.len(), 1);
        assert_eq!(
            (f[0].kind, f[0].severity),
            ("overlay_copy_up", Severity::Critical)
        );
        assert_eq!(f[0].evidence["size"], 2 << 20);
        assert_eq!(f[0].evidence["upper_free_bytes"], 1 << 20);
        assert!(f[0].explanation.contains("ENOSPC"), "{}", f[0].explanation);
    }

    #[test]
    fn hard_link_breaks_and_stale_mappings_are_findings() {
        let mut a = Analyzer::default();
        a.hardlinks.push(HardlinkBreak {
            path: "/app/a".into(),
            nlink: 2,
            other_names: vec!["/app/b".into()],
            index_param: Some("N".into()),
            ..Default::default()
        });
        a.stale.push(StaleMapping {
            path: "/app/db".into(),
            holder_pid: 42,
            holder_comm: "reader".into(),
            holder_how: "MAP_SHARED mapping",
            mapping_age_s: Some(3.5),
            ..Default::default()
        });
        let (r, f) = a.report();
        assert_eq!((r.hardlink_breaks.len(), r.stale_mappings.len()), (1, 1));
        let kinds: Vec<&str> = f.iter().map(|f| f.kind).collect();
        assert_eq!(kinds, ["overlay_hardlink_break", "overlay_stale_mapping"]);
        assert!(f[0].explanation.contains("/app/b"));
        assert!(f[0].remediation.contains("index=off"));
        assert!(f[1].explanation.contains("3.5 s"), "{}", f[1].explanation);
    }
}
