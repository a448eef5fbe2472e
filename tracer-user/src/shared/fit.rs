//! Lines that fit a width: the live view and the text report cut theirs alike.

use std::sync::atomic::{AtomicBool, Ordering};

/// Whether the text report's lines are cut to its width: on a terminal, where a wrapped table is
/// unreadable; not in a file or a pipe, whose reader (grep, an incident ticket) wants every path.
static CUT_REPORT: AtomicBool = AtomicBool::new(true);

/// Set once, before the report is rendered (`trace`: whether stdout is a terminal).
pub fn cut_report_lines(on: bool) {
    CUT_REPORT.store(on, Ordering::Relaxed);
}

/// A line of the text report: `fit` on a terminal, whole elsewhere.
pub fn fit_report(line: &str, max: usize) -> String {
    fit_if(line, max, CUT_REPORT.load(Ordering::Relaxed))
}

fn fit_if(line: &str, max: usize, cut: bool) -> String {
    if cut {
        fit(line, max)
    } else {
        line.to_string()
    }
}

/// `line` cut to at most `max` characters, ending in "…" when cut.
pub fn fit(line: &str, max: usize) -> String {
    if line.chars().count() <= max {
        return line.to_string();
    }
    let mut s: String = line.chars().take(max.saturating_sub(1)).collect();
    s.push('…');
    s
}

/// `text` word-wrapped to `width` columns: the first line after `first`, the others after as
/// many spaces. A word longer than a line (a path) is kept whole on its own line.
pub fn wrap(first: &str, text: &str, width: usize) -> String {
    let indent = " ".repeat(first.chars().count());
    let mut out = String::from(first);
    let mut col = first.chars().count();
    let mut fresh = true;
    for word in text.split_whitespace() {
        let w = word.chars().count();
        if !fresh && col + 1 + w > width {
            out.push('\n');
            out.push_str(&indent);
            col = indent.len();
            fresh = true;
        }
        if !fresh {
            out.push(' ');
            col += 1;
        }
        out.push_str(word);
        col += w;
        fresh = false;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_keeps_lines_within_the_width_and_words_whole() {
        let text =
            "the quick brown fox jumps over the lazy dog /a/very/long/path/that/does/not/fit";
        let w = wrap("  fix:   ", text, 30);
        for l in w.lines() {
            assert!(l.chars().count() <= 30 || !l.trim().contains(' '), "{l:?}");
        }
        assert!(w.starts_with("  fix:   the quick"));
        assert!(w.lines().nth(1).unwrap().starts_with("         "));
        assert_eq!(
            w.split_whitespace().skip(1).collect::<Vec<_>>().join(" "),
            text
        );
    }

    #[test]
    fn the_report_is_cut_only_when_asked() {
        let long = "x".repeat(150);
        assert_eq!(fit_if(&long, 100, true).chars().count(), 100);
        assert_eq!(fit_if(&long, 100, false), long);
    }

    #[test]
    fn fit_cuts_with_an_ellipsis() {
        assert_eq!(fit("abc", 3), "abc");
        assert_eq!(fit("abcdef", 4), "abc…");
        assert_eq!(fit("ééééé", 3).chars().count(), 3);
    }
}
