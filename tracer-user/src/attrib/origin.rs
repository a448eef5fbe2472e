//! Who runs a container and, for Kubernetes containers, their names: the fields the subject of
//! every finding and event carries next to `container_id` and `container_name`.

use serde::Serialize;

use super::{Container, K8sNames};

/// Serialized flat: `runtime`, `k8s_pod`, `k8s_namespace`, `k8s_container` (null outside
/// containers, and the k8s fields outside Kubernetes).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Origin {
    /// "docker" | "containerd" | "cri-o" | "podman" | "kubernetes" | "pidns", as `Container`.
    pub runtime: Option<String>,
    #[serde(flatten)]
    pub k8s: K8sNames,
}

impl Origin {
    pub fn of(c: Option<&Container>) -> Origin {
        c.map(|c| Origin {
            runtime: Some(c.runtime.clone()),
            k8s: c.k8s.clone(),
        })
        .unwrap_or_default()
    }
}
