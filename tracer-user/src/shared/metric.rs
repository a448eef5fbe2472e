//! A metric family as a problem hands it to serve's `/metrics`: serve only encodes it.

use super::series::{Ctr, Hist};

pub type Labels = Vec<(&'static str, String)>;

#[derive(Clone, Debug)]
pub enum Rows {
    Counter(Vec<(Labels, u64)>),
    Gauge(Vec<(Labels, u64)>),
    /// Latency histograms, in seconds.
    Histogram(Vec<(Labels, Hist)>),
}

#[derive(Clone, Debug)]
pub struct Family {
    pub name: &'static str,
    pub help: &'static str,
    pub rows: Rows,
}

impl Family {
    pub fn counter(name: &'static str, help: &'static str, rows: Vec<(Labels, u64)>) -> Family {
        Family {
            name,
            help,
            rows: Rows::Counter(rows),
        }
    }

    pub fn gauge(name: &'static str, help: &'static str, rows: Vec<(Labels, u64)>) -> Family {
        Family {
            name,
            help,
            rows: Rows::Gauge(rows),
        }
    }

    pub fn histogram(name: &'static str, help: &'static str, rows: Vec<(Labels, Hist)>) -> Family {
        Family {
            name,
            help,
            rows: Rows::Histogram(rows),
        }
    }
}

/// `container` and `container_id`; `runtime`, `k8s_pod`, `k8s_namespace` and `k8s_container`
/// where known; then `extra`.
pub fn ctr_labels(c: &Ctr, extra: &[(&'static str, &str)]) -> Labels {
    let mut l = vec![
        ("container", c.name.clone()),
        ("container_id", c.id.clone()),
    ];
    let o = &c.origin;
    let known = [
        ("runtime", &o.runtime),
        ("k8s_pod", &o.k8s.k8s_pod),
        ("k8s_namespace", &o.k8s.k8s_namespace),
        ("k8s_container", &o.k8s.k8s_container),
    ];
    l.extend(
        known
            .into_iter()
            .filter_map(|(k, v)| Some((k, v.clone()?)))
            .filter(|(_, v)| !v.is_empty()),
    );
    l.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    l
}
