//! The "attached" line: the first line a plain live view prints, within its 100 columns. The
//! problems that share an attach type are named together; the probe tiers go first when the
//! line would not fit (the report's header and `--json`'s `probes` have them all).

use crate::shared::fit;

/// The line's width, as every live line's.
const WIDTH: usize = 100;

/// `ctrace: attached sem,sigpipe via tp_btf, zombie via tracepoint; Ctrl-C to stop`, from
/// (problem, attach type, tier) in attach order.
pub fn attached(probes: &[(&str, &str, &str)]) -> String {
    let with_tiers = grouped(probes, true);
    let line = |what: &str| format!("ctrace: attached {what}; Ctrl-C to stop");
    if line(&with_tiers).chars().count() <= WIDTH {
        return line(&with_tiers);
    }
    fit(&line(&grouped(probes, false)), WIDTH)
}

/// "seccomp,sem via tp_btf, zombie via tracepoint": problems by how they attach, in order.
pub fn grouped(probes: &[(&str, &str, &str)], tiers: bool) -> String {
    let mut groups: Vec<(String, Vec<&str>)> = Vec::new();
    for &(problem, attach_type, tier) in probes {
        let via = match tier {
            "tracepoint" => attach_type.to_string(),
            _ if !tiers => attach_type.to_string(),
            t => format!("{attach_type}+{t}"),
        };
        match groups.iter_mut().find(|(v, _)| *v == via) {
            Some((_, ps)) => ps.push(problem),
            None => groups.push((via, vec![problem])),
        }
    }
    let parts: Vec<String> = groups
        .iter()
        .map(|(via, ps)| format!("{} via {via}", ps.join(",")))
        .collect();
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_fits_in_100_columns() {
        let all = [
            ("seccomp", "tp_btf", "kernel"),
            ("sem", "tp_btf", "tracepoint"),
            ("zombie", "tracepoint", "tracepoint"),
            ("sigpipe", "tp_btf", "tracepoint"),
            ("overlay", "tp_btf", "kernel"),
        ];
        let line = attached(&all);
        assert!(line.chars().count() <= 100, "{line}");
        assert!(!line.contains('…'), "{line}");
        assert!(line.contains("zombie via tracepoint"), "{line}");
        let few = attached(&[
            ("sem", "tp_btf", "tracepoint"),
            ("seccomp", "raw_tp", "fentry"),
        ]);
        assert_eq!(
            few,
            "ctrace: attached sem via tp_btf, seccomp via raw_tp+fentry; Ctrl-C to stop"
        );
    }
}
