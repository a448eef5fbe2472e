//! A finding: what a problem's analyzer concludes, with its evidence and the fix.

use serde::Serialize;

use crate::attrib::Origin;

#[derive(Serialize, Debug, Clone, Default)]
pub struct Subject {
    pub pid: Option<u32>,
    pub comm: Option<String>,
    pub container_id: Option<String>,
    pub container_name: Option<String>,
    /// `runtime`, `k8s_pod`, `k8s_namespace`, `k8s_container`.
    #[serde(flatten)]
    pub origin: Origin,
}

#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
#[allow(
    dead_code,
    reason = "info is part of the report contract; no finding raises it yet"
)]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

#[derive(Serialize, Debug, Clone)]
pub struct Finding {
    pub kind: &'static str,
    pub severity: Severity,
    pub subject: Subject,
    pub evidence: serde_json::Value,
    pub explanation: String,
    pub remediation: String,
}

impl Finding {
    /// What makes two findings the same one over time (serve's NDJSON stream, the live view's
    /// new-finding lines): its kind and what it is about. Evidence numbers change from one
    /// interval to the next, so they are not part of it.
    pub fn identity(&self) -> String {
        let s = &self.subject;
        format!(
            "{}|{}|{}|{}",
            self.kind,
            s.container_id.as_deref().unwrap_or(""),
            s.pid.map_or(String::new(), |p| p.to_string()),
            s.comm.as_deref().unwrap_or("")
        )
    }
}
