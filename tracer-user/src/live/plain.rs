//! The live view where stderr is not a terminal (or with --no-tui): one short line per problem
//! per interval, and one line for each new finding.

use super::model::{Model, fit};
use crate::say;

/// The longest line printed: what a log viewer or a narrow window shows unwrapped.
pub const WIDTH: usize = 100;

/// The lines for one interval.
pub fn lines(m: &Model) -> Vec<String> {
    let at = format!("[{:>7.1}s]", m.elapsed_s);
    let mut out: Vec<String> = m
        .problems
        .iter()
        .filter(|(_, l)| !l.is_empty())
        .map(|(_, l)| fit(&format!("{at} {l}"), WIDTH))
        .collect();
    out.extend(m.new_findings.iter().map(|f| {
        fit(
            &format!(
                "{at} finding: {} {} {}",
                f.severity.name().to_uppercase(),
                f.kind,
                f.subject
            ),
            WIDTH,
        )
    }));
    out
}

pub fn print(m: &Model) {
    for l in lines(m) {
        say!("{l}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{live::model::FindingRow, shared::Severity};

    #[test]
    fn lines_stay_within_the_width() {
        let m = Model {
            elapsed_s: 12.5,
            problems: vec![("seccomp", "seccomp: ".to_string() + &"x".repeat(300))],
            new_findings: vec![FindingRow {
                severity: Severity::Warning,
                kind: "zombie_accumulation",
                subject: "init (pid 4)".into(),
            }],
            ..Model::default()
        };
        let l = lines(&m);
        assert_eq!(l.len(), 2);
        assert!(l.iter().all(|l| l.chars().count() <= WIDTH), "{l:?}");
        assert!(l[0].starts_with("[   12.5s] seccomp: x") && l[0].ends_with('…'));
        assert_eq!(
            l[1],
            "[   12.5s] finding: WARNING zombie_accumulation init (pid 4)"
        );
    }
}
