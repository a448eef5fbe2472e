//! Types every problem and every consumer (session, report, serve, doctor) share. Nothing here
//! imports a problem: problems depend on this module, never the other way round.

pub mod finding;
mod fit;
pub mod metric;
pub mod run;
pub mod section;
pub mod seen;
pub mod series;

// Below attribution (its own doctor lines) and the dispatcher (its probes): no circle.
pub use crate::{
    check::{Check, Status, check},
    probe_info::ProbeInfo,
};
pub use finding::{Finding, Severity, Subject};
pub use fit::{cut_report_lines, fit, fit_report, wrap};
pub use run::{Caps, Cx, Entry, Evictions, ProblemRun, Start};
pub use section::{Part, Section};
pub use seen::{Seen, Window};
