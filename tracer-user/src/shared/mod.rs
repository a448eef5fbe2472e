//! Types every problem and every consumer (session, report, serve, doctor) share. Nothing here
//! imports a problem: problems depend on this module, never the other way round.

pub mod check;
pub mod finding;
mod fit;
pub mod metric;
pub mod probe_info;
pub mod run;
pub mod section;
pub mod series;

pub use check::{Check, Status, check};
pub use finding::{Finding, Severity, Subject};
pub use fit::{fit, wrap};
pub use probe_info::ProbeInfo;
pub use run::{Caps, Cx, Entry, Evictions, ProblemRun, Start};
pub use section::{Part, Section};
