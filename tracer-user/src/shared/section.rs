//! A problem's part of the report: its section (JSON and text), its findings, its event count.

use std::any::Any;

use super::Finding;

/// A problem's section of the report, keyed by the problem's name in the JSON.
pub trait Section: Any + Send {
    /// The section as JSON; its fields are the contract of `docs/<problem>.md`.
    fn json(&self) -> serde_json::Value;
    /// The section as human text, appended to the report.
    fn render(&self, out: &mut String, top: usize);
}

/// Implements `Section` for a serializable report type with a `render(out, &T, top)` function.
#[macro_export]
macro_rules! section {
    ($ty:ty, $render:path) => {
        impl $crate::shared::Section for $ty {
            fn json(&self) -> serde_json::Value {
                serde_json::to_value(self).unwrap_or_else(|e| {
                    log::warn!("report section: {e}");
                    serde_json::Value::Null
                })
            }
            fn render(&self, out: &mut String, top: usize) {
                $render(out, self, top)
            }
        }
    };
}

/// What one problem adds to a report.
pub struct Part {
    /// Events seen (for seccomp, syscalls counted): the report's `events.<problem>`.
    pub events: u64,
    pub section: Box<dyn Section>,
    pub findings: Vec<Finding>,
}

impl Part {
    pub fn new(events: u64, section: impl Section, findings: Vec<Finding>) -> Part {
        Part {
            events,
            section: Box::new(section),
            findings,
        }
    }
}
