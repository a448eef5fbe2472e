//! Kubernetes names of a container, from the annotations the CRI runtimes write into its OCI
//! spec: containerd's `io.kubernetes.cri.*`, CRI-O's `io.kubernetes.*`.

use std::collections::HashMap;

use serde::Serialize;

/// The pod, namespace and container a Kubernetes container belongs to. Serialized flat as
/// `k8s_pod`, `k8s_namespace`, `k8s_container`: names that can't be taken for Linux namespaces
/// and that Prometheus' Kubernetes discovery does not add to targets.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct K8sNames {
    pub k8s_pod: Option<String>,
    pub k8s_namespace: Option<String>,
    pub k8s_container: Option<String>,
}

impl K8sNames {
    pub fn is_empty(&self) -> bool {
        self.k8s_pod.is_none() && self.k8s_namespace.is_none() && self.k8s_container.is_none()
    }
}

/// The manager an OCI spec's annotations name, and the Kubernetes names they carry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SpecNames {
    /// "containerd" | "cri-o" | "podman", when the annotations tell.
    pub runtime: Option<&'static str>,
    pub k8s: K8sNames,
}

const CRI_CONTAINER: &str = "io.kubernetes.cri.container-name";
const CRI_POD: &str = "io.kubernetes.cri.sandbox-name";
const CRI_NAMESPACE: &str = "io.kubernetes.cri.sandbox-namespace";
const KUBE_CONTAINER: &str = "io.kubernetes.container.name";
const KUBE_POD: &str = "io.kubernetes.pod.name";
const KUBE_NAMESPACE: &str = "io.kubernetes.pod.namespace";
/// CRI-O also keeps the kubelet's labels as one JSON object.
const CRIO_LABELS: &str = "io.kubernetes.cri-o.Labels";
const MANAGER: &str = "io.container.manager";

pub fn from_annotations(a: &HashMap<String, String>) -> SpecNames {
    let get = |k: &str| a.get(k).filter(|v| !v.is_empty()).cloned();
    if a.contains_key(CRI_POD) || a.contains_key(CRI_CONTAINER) {
        return SpecNames {
            runtime: Some("containerd"),
            k8s: K8sNames {
                k8s_pod: get(CRI_POD),
                k8s_namespace: get(CRI_NAMESPACE),
                k8s_container: get(CRI_CONTAINER),
            },
        };
    }
    let labels: HashMap<String, String> = a
        .get(CRIO_LABELS)
        .and_then(|j| serde_json::from_str(j).ok())
        .unwrap_or_default();
    let kube = |k: &str| get(k).or_else(|| labels.get(k).filter(|v| !v.is_empty()).cloned());
    let k8s = K8sNames {
        k8s_pod: kube(KUBE_POD),
        k8s_namespace: kube(KUBE_NAMESPACE),
        k8s_container: kube(KUBE_CONTAINER),
    };
    let runtime = match a.get(MANAGER).map(String::as_str) {
        Some("libpod") => Some("podman"),
        Some("cri-o") => Some("cri-o"),
        _ if !k8s.is_empty() || a.keys().any(|k| k.starts_with("io.kubernetes.cri-o.")) => {
            Some("cri-o")
        }
        _ => None,
    };
    SpecNames { runtime, k8s }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn containerd_cri_annotations() {
        let n = from_annotations(&map(&[
            (CRI_CONTAINER, "app"),
            (CRI_POD, "web-0"),
            (CRI_NAMESPACE, "shop"),
            ("io.kubernetes.cri.container-type", "container"),
        ]));
        assert_eq!(n.runtime, Some("containerd"));
        assert_eq!(n.k8s.k8s_pod.as_deref(), Some("web-0"));
        assert_eq!(n.k8s.k8s_namespace.as_deref(), Some("shop"));
        assert_eq!(n.k8s.k8s_container.as_deref(), Some("app"));
    }

    #[test]
    fn containerd_sandbox_has_no_container_name() {
        let n = from_annotations(&map(&[
            ("io.kubernetes.cri.container-type", "sandbox"),
            (CRI_POD, "web-0"),
            (CRI_NAMESPACE, "shop"),
        ]));
        assert_eq!(n.k8s.k8s_container, None);
        assert_eq!(n.k8s.k8s_pod.as_deref(), Some("web-0"));
    }

    #[test]
    fn crio_labels_json_is_the_fallback() {
        let labels = r#"{"io.kubernetes.pod.name":"p","io.kubernetes.pod.namespace":"n","io.kubernetes.container.name":"c"}"#;
        let n = from_annotations(&map(&[(CRIO_LABELS, labels)]));
        assert_eq!(n.runtime, Some("cri-o"));
        assert_eq!(
            (
                n.k8s.k8s_pod.as_deref(),
                n.k8s.k8s_namespace.as_deref(),
                n.k8s.k8s_container.as_deref()
            ),
            (Some("p"), Some("n"), Some("c"))
        );
    }

    #[test]
    fn podman_and_plain_specs() {
        let podman = from_annotations(&map(&[
            (MANAGER, "libpod"),
            ("io.kubernetes.cri-o.TTY", "false"),
        ]));
        assert_eq!(podman.runtime, Some("podman"));
        assert!(podman.k8s.is_empty());
        let plain = from_annotations(&map(&[("org.opencontainers.image.stopSignal", "15")]));
        assert_eq!(plain, SpecNames::default());
    }
}
