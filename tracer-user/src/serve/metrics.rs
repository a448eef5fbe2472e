//! `/metrics`: the latest snapshot as OpenMetrics, encoded by prometheus-client. The main loop
//! replaces the snapshot each interval; a scrape only reads it.

use std::{
    fmt,
    sync::{Arc, Mutex},
};

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, NoLabelSet},
    metrics::MetricType,
    registry::{Registry, Unit},
};

use crate::shared::{
    metric::{Family, Labels, Rows, ctr_labels},
    series::{Ctr, Hist},
};

/// Histogram bucket edges, as powers of two in ns: 256 ns to 1 s, every fourfold. The kernel's
/// 32 log2 slots fold into these, which keeps the series per histogram at 15.
const EDGE_EXPONENTS: [usize; 12] = [8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30];

/// Everything `/metrics` shows, rebuilt each interval.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// The attached problems' own families, in registry order.
    pub families: Vec<Family>,
    pub events: Vec<(String, u64)>,
    /// (problem, reason, count).
    pub drops: Vec<(String, String, u64)>,
    pub evictions: Vec<(&'static str, u64)>,
    pub tracked: Vec<(&'static str, u64)>,
    /// Failed writes of the NDJSON findings stream.
    pub stream_errors: u64,
    /// (kind, severity, container, active findings).
    pub findings: Vec<(String, String, Ctr, u64)>,
    /// (problem, attach type).
    pub probes: Vec<(String, String)>,
    /// ctrace's own maps and programs, as of the snapshot: a scrape reads no fdinfo.
    pub bpf: crate::bpf_cost::BpfCost,
}

fn buckets(h: &Hist) -> Vec<(f64, u64)> {
    let mut out = Vec::with_capacity(EDGE_EXPONENTS.len() + 1);
    let mut from = 0;
    for e in EDGE_EXPONENTS {
        out.push(((1u64 << e) as f64 / 1e9, h.slots[from..e].iter().sum()));
        from = e;
    }
    out.push((f64::MAX, h.slots[from..].iter().sum()));
    out
}

struct Desc<'a> {
    name: &'a str,
    help: &'a str,
    unit: Option<Unit>,
}

impl Desc<'_> {
    fn counter(&self, enc: &mut DescriptorEncoder, rows: &[(Labels, u64)]) -> fmt::Result {
        let mut m = enc.encode_descriptor(self.name, self.help, None, MetricType::Counter)?;
        for (labels, v) in rows {
            m.encode_family(labels)?
                .encode_counter::<NoLabelSet, _, u64>(v, None)?;
        }
        Ok(())
    }

    fn gauge(&self, enc: &mut DescriptorEncoder, rows: &[(Labels, u64)]) -> fmt::Result {
        let mut m = enc.encode_descriptor(self.name, self.help, None, MetricType::Gauge)?;
        for (labels, v) in rows {
            m.encode_family(labels)?.encode_gauge(v)?;
        }
        Ok(())
    }

    fn histogram(&self, enc: &mut DescriptorEncoder, rows: &[(Labels, &Hist)]) -> fmt::Result {
        let mut m = enc.encode_descriptor(
            self.name,
            self.help,
            self.unit.as_ref(),
            MetricType::Histogram,
        )?;
        for (labels, h) in rows {
            m.encode_family(labels)?.encode_histogram::<NoLabelSet>(
                h.sum_ns as f64 / 1e9,
                h.count,
                &buckets(h),
                None,
            )?;
        }
        Ok(())
    }
}

fn fam<'a>(name: &'a str, help: &'a str) -> Desc<'a> {
    Desc {
        name,
        help,
        unit: None,
    }
}

#[derive(Debug)]
pub struct Exporter(pub Arc<Mutex<Snapshot>>);

impl Collector for Exporter {
    fn encode(&self, mut enc: DescriptorEncoder) -> fmt::Result {
        let s = self.0.lock().map_err(|_| fmt::Error)?.clone();
        let e = &mut enc;
        for f in &s.families {
            match &f.rows {
                Rows::Counter(rows) => fam(f.name, f.help).counter(e, rows)?,
                Rows::Gauge(rows) => fam(f.name, f.help).gauge(e, rows)?,
                Rows::Histogram(rows) => {
                    let rows: Vec<(Labels, &Hist)> =
                        rows.iter().map(|(l, h)| (l.clone(), h)).collect();
                    Desc {
                        name: f.name,
                        help: f.help,
                        unit: Some(Unit::Seconds),
                    }
                    .histogram(e, &rows)?
                }
            }
        }
        let rows: Vec<(Labels, u64)> = s
            .events
            .iter()
            .map(|(p, n)| (vec![("problem", p.clone())], *n))
            .collect();
        fam("ctrace_events", "Events handled, by problem.").counter(e, &rows)?;
        let rows: Vec<(Labels, u64)> = s
            .drops
            .iter()
            .map(|(p, r, n)| (vec![("problem", p.clone()), ("reason", r.clone())], *n))
            .collect();
        fam(
            "ctrace_dropped_events",
            "Events lost, by problem and reason: in the kernel, or at the queue behind the drain (*_queue_full).",
        )
        .counter(e, &rows)?;
        let rows: Vec<(Labels, u64)> = s
            .evictions
            .iter()
            .map(|(w, n)| (vec![("what", w.to_string())], *n))
            .collect();
        fam(
            "ctrace_evictions",
            "State dropped to stay within the caps, oldest first.",
        )
        .counter(e, &rows)?;
        let rows: Vec<(Labels, u64)> = s
            .tracked
            .iter()
            .map(|(w, n)| (vec![("what", w.to_string())], *n))
            .collect();
        fam("ctrace_tracked", "State held now, by kind.").gauge(e, &rows)?;
        fam(
            "ctrace_findings_stream_errors",
            "Failed writes of the NDJSON findings stream (a closed stdout, a full disk).",
        )
        .counter(e, &[(vec![], s.stream_errors)])?;
        let rows: Vec<(Labels, u64)> = s
            .findings
            .iter()
            .map(|(k, sev, c, n)| (ctr_labels(c, &[("kind", k), ("severity", sev)]), *n))
            .collect();
        fam(
            "ctrace_finding_active",
            "Findings active now (see /findings for the evidence).",
        )
        .gauge(e, &rows)?;
        let rows: Vec<(Labels, u64)> = s
            .probes
            .iter()
            .map(|(p, t)| (vec![("problem", p.clone()), ("attach_type", t.clone())], 1))
            .collect();
        fam(
            "ctrace_probe_attached",
            "The probe tier each problem runs on.",
        )
        .gauge(e, &rows)?;
        let rows = crate::bpf_cost::metric_rows(&s.bpf);
        fam(
            "ctrace_bpf_map_bytes",
            "Kernel memory of ctrace's BPF maps, by map (their sum: the total).",
        )
        .gauge(e, &rows)?;
        let (run_ns, runs) = crate::bpf_cost::program_rows(&s.bpf);
        if !run_ns.is_empty() {
            fam(
                "ctrace_bpf_program_run_ns",
                "Time ctrace's BPF programs ran, in ns (only while kernel.bpf_stats_enabled is 1).",
            )
            .counter(e, &run_ns)?;
            fam(
                "ctrace_bpf_program_runs",
                "Runs of ctrace's BPF programs (only while kernel.bpf_stats_enabled is 1).",
            )
            .counter(e, &runs)?;
        }
        Ok(())
    }
}

pub fn registry(snapshot: Arc<Mutex<Snapshot>>) -> Registry {
    let mut r = Registry::default();
    r.register_collector(Box::new(Exporter(snapshot)));
    r
}

pub fn encode(registry: &Registry) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, registry);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log2_slots_fold_into_fourfold_buckets() {
        let mut h = Hist::default();
        h.slots[7] = 1; // 128..256 ns: in le=256ns
        h.slots[8] = 2; // 256..512 ns: in le=1024ns
        h.slots[31] = 4; // beyond 1 s: +Inf only
        let b = buckets(&h);
        assert_eq!(b.len(), 13);
        assert_eq!(b[0], (256e-9, 1));
        assert_eq!(b[1].1, 2);
        assert_eq!(b[12], (f64::MAX, 4));
    }

    #[test]
    fn the_exposition_names_metrics_with_container_labels() {
        let web = Ctr {
            name: "web".into(),
            id: "0123456789ab".into(),
            origin: Default::default(),
        };
        let mut h = Hist {
            count: 3,
            ..Default::default()
        };
        h.slots[9] = 3;
        let labels = ctr_labels(&web, &[("class", "file")]);
        let s = Snapshot {
            families: vec![
                Family::counter("ctrace_syscalls", "x", vec![(labels.clone(), 3)]),
                Family::histogram("ctrace_syscall_latency", "x", vec![(labels, h)]),
                Family::gauge(
                    "ctrace_sem_leaked_sets",
                    "x",
                    vec![(ctr_labels(&web, &[]), 1)],
                ),
            ],
            ..Default::default()
        };
        let text = encode(&registry(Arc::new(Mutex::new(s))));
        assert!(text.contains(
            "ctrace_syscalls_total{container=\"web\",container_id=\"0123456789ab\",class=\"file\"} 3"
        ));
        assert!(text.contains("ctrace_syscall_latency_seconds_bucket{"));
        assert!(
            text.contains(
                "ctrace_sem_leaked_sets{container=\"web\",container_id=\"0123456789ab\"} 1"
            )
        );
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn kubernetes_containers_carry_their_names_as_labels() {
        let app = Ctr {
            name: "app".into(),
            id: "0123456789ab".into(),
            origin: crate::attrib::Origin {
                runtime: Some("containerd".into()),
                k8s: crate::attrib::K8sNames {
                    k8s_pod: Some("web-0".into()),
                    k8s_namespace: Some("shop".into()),
                    k8s_container: Some("app".into()),
                },
            },
        };
        let s = Snapshot {
            families: vec![Family::gauge(
                "ctrace_zombies",
                "x",
                vec![(ctr_labels(&app, &[]), 2)],
            )],
            ..Default::default()
        };
        let text = encode(&registry(Arc::new(Mutex::new(s))));
        assert!(
            text.contains(
                "ctrace_zombies{container=\"app\",container_id=\"0123456789ab\",runtime=\"containerd\",\
                 k8s_pod=\"web-0\",k8s_namespace=\"shop\",k8s_container=\"app\"} 2"
            ),
            "{text}"
        );
    }
}
