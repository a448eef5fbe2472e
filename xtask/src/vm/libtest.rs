//! A test binary's results from libtest's output as the VM logged it. A test's children may
//! write to the console while it runs, so its verdict can land lines after its `test NAME ...`
//! line: such a test is settled by the `failures:` list once the binary's summary is there.

use std::collections::BTreeSet;

/// (test name, passed) for every test that ran to a verdict.
pub fn results(log: &str) -> Vec<(String, bool)> {
    let mut out: Vec<(String, bool)> = Vec::new();
    let mut pending: Vec<String> = Vec::new();
    let mut failures = BTreeSet::new();
    let mut in_failures = false;
    let mut summary = false;
    for line in log.lines() {
        if let Some((name, verdict)) = test_line(line) {
            match verdict.trim() {
                "ok" => out.push((name.to_string(), true)),
                "FAILED" => out.push((name.to_string(), false)),
                v if v.starts_with("ignored") => {}
                _ => pending.push(name.to_string()),
            }
            continue;
        }
        if line.starts_with("test result:") {
            summary = true;
        }
        // The second `failures:` block: one failed test's name a line, indented by four.
        if line == "failures:" {
            in_failures = true;
            continue;
        }
        if in_failures {
            match line.strip_prefix("    ") {
                Some(name) if !name.is_empty() && !name.contains(' ') => {
                    failures.insert(name.to_string());
                }
                _ if line.is_empty() => {}
                _ => in_failures = false,
            }
        }
    }
    if summary {
        for name in pending {
            if !out.iter().any(|(n, _)| *n == name) {
                let passed = !failures.contains(&name);
                out.push((name, passed));
            }
        }
    }
    out
}

/// `test NAME ... VERDICT`, where a child's output without a newline (which may hold ` ... `
/// itself) may come before `test`: the first ` ... ` that follows `test NAME` is the one.
fn test_line(line: &str) -> Option<(&str, &str)> {
    line.match_indices(" ... ").find_map(|(at, sep)| {
        let head = &line[..at];
        let name = &head[head.rfind("test ")? + "test ".len()..];
        (!name.is_empty() && !name.contains(' ')).then_some((name, &line[at + sep.len()..]))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lines() {
        let log = "test a::b ... ok\ntest x ... FAILED\ntest i ... ignored, slow\n\
                   test result: FAILED. 1 passed; 1 failed";
        assert_eq!(
            results(log),
            [("a::b".to_string(), true), ("x".to_string(), false)]
        );
    }

    #[test]
    fn a_verdict_interleaved_with_output_is_settled_by_the_failures_list() {
        let log = "test quiet ... ctrace: attached\nok\n\
                   test loud ... ctrace: detached\nFAILED\n\
                   \nfailures:\n\n---- loud stdout ----\npanicked\n\n\
                   failures:\n    loud\n\ntest result: FAILED. 1 passed; 1 failed";
        let mut r = results(log);
        r.sort();
        assert_eq!(
            r,
            [("loud".to_string(), false), ("quiet".to_string(), true)]
        );
    }

    #[test]
    fn a_test_line_after_a_child_s_unfinished_line() {
        let log = "ctrace: detachingtest after ... ok\ntest result: ok. 1 passed";
        assert_eq!(results(log), [("after".to_string(), true)]);
        let dots = "ctrace: detaching ... waittest after ... ok\ntest result: ok. 1 passed";
        assert_eq!(results(dots), [("after".to_string(), true)]);
    }

    #[test]
    fn a_binary_cut_off_before_its_summary_settles_nothing_pending() {
        assert_eq!(results("test hung ... ctrace: attached\n"), []);
    }
}
