//! A problem's part of the report: its section (JSON and text), its findings, its event count.

use std::any::Any;

use serde::Serialize;

use super::Finding;

/// A problem's section of the report, keyed by the problem's name in the JSON.
pub trait Section: Any + Send {
    /// The section as pretty JSON, indented to sit one level inside the report (see `nested`);
    /// its fields are the contract of `docs/<problem>.md`.
    fn json(&self) -> String;
    /// The section as human text, appended to the report.
    fn render(&self, out: &mut String, top: usize);
}

/// Implements `Section` for a serializable report type with a `render(out, &T, top)` function.
#[macro_export]
macro_rules! section {
    ($ty:ty, $render:path) => {
        impl $crate::shared::Section for $ty {
            fn json(&self) -> String {
                $crate::shared::section::nested(self)
            }
            fn render(&self, out: &mut String, top: usize) {
                $render(out, self, top)
            }
        }
    };
}

/// `v` as pretty JSON one level deep: written straight from the type (no `Value` tree, whose
/// maps would also reorder its fields), so the report reads as if serialized in one piece.
/// JSON strings hold no raw newline, so indenting after each one only moves lines.
pub fn nested<T: Serialize>(v: &T) -> String {
    match serde_json::to_string_pretty(v) {
        Ok(s) => s.replace('\n', "\n  "),
        Err(e) => {
            log::warn!("report section: {e}");
            "null".into()
        }
    }
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
