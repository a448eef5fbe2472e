//! The report: one structure rendered as human text or as one JSON document.
//!
//! The JSON shape is a contract (`docs/report.md`): later changes add keys, or bump `SCHEMA`.

pub mod text;

use std::collections::BTreeMap;

use serde::{
    Serialize, Serializer,
    ser::{self, SerializeMap},
};
use serde_json::value::RawValue;

use crate::shared::{Finding, ProbeInfo, Section, Window};

/// The version of the JSON shape: changes that are not additions bump it.
pub const SCHEMA: u32 = 1;

/// The whole report. `events` and `drops` have one key per attached problem.
pub struct Report {
    pub version: &'static str,
    pub kernel: String,
    pub probes: Vec<ProbeInfo>,
    pub duration_s: f64,
    pub events: BTreeMap<String, u64>,
    pub drops: BTreeMap<String, u64>,
    /// Why events were dropped, by reason, when any were.
    pub drop_reasons: BTreeMap<String, u64>,
    pub findings: Vec<Finding>,
    /// When each finding was seen, one per finding, where the trace kept them (`trace`'s final
    /// report, whose findings include those resolved before the end); else empty.
    pub windows: Vec<Window>,
    /// Percentage of each interval the syscall probes were attached.
    pub duty_cycle_pct: u8,
    /// Each attached problem's section, in registry order, keyed by the problem's name.
    pub sections: Vec<(&'static str, Box<dyn Section>)>,
    /// ctrace's own kernel cost: map bytes, and program run time when bpf stats are on.
    pub bpf: Option<crate::bpf_cost::BpfCost>,
    /// Whether events' namespaces came from the kernel or /proc, and what that misses.
    pub evidence: Option<crate::evidence::Evidence>,
}

/// A finding with `first_seen_s`, `last_seen_s` and `active` beside its own keys.
#[derive(Serialize)]
struct Windowed<'a> {
    #[serde(flatten)]
    finding: &'a Finding,
    #[serde(flatten)]
    window: &'a Window,
}

impl Serialize for Report {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("schema", &SCHEMA)?;
        m.serialize_entry("version", self.version)?;
        m.serialize_entry("kernel", &self.kernel)?;
        m.serialize_entry("probes", &self.probes)?;
        m.serialize_entry("duration_s", &self.duration_s)?;
        m.serialize_entry("events", &self.events)?;
        m.serialize_entry("drops", &self.drops)?;
        m.serialize_entry("drop_reasons", &self.drop_reasons)?;
        if self.windows.len() == self.findings.len() && !self.windows.is_empty() {
            let list: Vec<Windowed> = self
                .findings
                .iter()
                .zip(&self.windows)
                .map(|(finding, window)| Windowed { finding, window })
                .collect();
            m.serialize_entry("findings", &list)?;
        } else {
            m.serialize_entry("findings", &self.findings)?;
        }
        m.serialize_entry("duty_cycle_pct", &self.duty_cycle_pct)?;
        if let Some(b) = &self.bpf {
            m.serialize_entry("bpf", b)?;
        }
        if let Some(e) = &self.evidence {
            m.serialize_entry("evidence", e)?;
        }
        for (name, section) in &self.sections {
            let raw = RawValue::from_string(section.json()).map_err(ser::Error::custom)?;
            m.serialize_entry(name, &raw)?;
        }
        m.end()
    }
}

impl Report {
    /// The findings of the whole window (what `seen` saw until now): resolved ones too.
    pub fn keep_window(&mut self, seen: &mut crate::shared::Seen) {
        let all = seen.windows(std::mem::take(&mut self.findings), self.duration_s);
        (self.findings, self.windows) = all.into_iter().unzip();
    }

    /// How many findings no longer held at the end.
    pub fn resolved(&self) -> usize {
        self.windows.iter().filter(|w| !w.active).count()
    }
    pub fn to_json(&self) -> String {
        // Every key is a string and every value serializable: this cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// A problem's section, by the problem's name.
    pub fn section(&self, name: &str) -> Option<&dyn Section> {
        self.sections
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, s)| s.as_ref())
    }
}
