//! The findings, first on the page: most severe first, each with its subject, evidence,
//! explanation and remediation.

use serde_json::Value;

use super::fmt::{esc, str_of, value};

fn rank(sev: &str) -> u8 {
    match sev {
        "critical" => 0,
        "warning" => 1,
        "info" => 2,
        _ => 3,
    }
}

/// The findings section's HTML, or None when the report has no `findings` key.
pub fn section(doc: &Value) -> Option<String> {
    let list = doc.get("findings")?.as_array()?;
    let mut out = String::from("<section id=\"findings\"><h2>Findings</h2>");
    if list.is_empty() {
        out.push_str("<p class=\"none\">No findings in this report.</p></section>");
        return Some(out);
    }
    let mut sorted: Vec<&Value> = list.iter().collect();
    sorted.sort_by_key(|f| rank(str_of(f, "severity").unwrap_or("")));
    out.push_str("<ol class=\"findings\">");
    for f in sorted {
        out.push_str(&one(f));
    }
    out.push_str("</ol></section>");
    Some(out)
}

fn one(f: &Value) -> String {
    let sev = str_of(f, "severity").unwrap_or("unknown");
    let class = match rank(sev) {
        0..=2 => sev,
        _ => "unknown",
    };
    let kind = str_of(f, "kind").unwrap_or("finding");
    let mut out = format!(
        "<li class=\"finding sev-{class}\"><div class=\"head\"><span class=\"sev\">{}</span> \
         <span class=\"kind\">{}</span> <span class=\"subject\">{}</span></div>",
        esc(sev),
        esc(kind),
        esc(&subject(f.get("subject").unwrap_or(&Value::Null)))
    );
    if let Some(active) = f.get("active").and_then(Value::as_bool) {
        let at = |k| f.get(k).and_then(Value::as_f64).unwrap_or(0.0);
        out.push_str(&if active {
            format!(
                "<p class=\"seen\">Seen from {:.1} s, still active at the end.</p>",
                at("first_seen_s")
            )
        } else {
            format!(
                "<p class=\"seen resolved\">Resolved: seen from {:.1} s to {:.1} s, not at the end.</p>",
                at("first_seen_s"),
                at("last_seen_s")
            )
        });
    }
    if let Some(ev) = f.get("evidence").filter(|v| !v.is_null()) {
        out.push_str("<dl class=\"evidence\">");
        match ev.as_object() {
            Some(map) => {
                for (k, v) in map {
                    out.push_str(&format!("<dt>{}</dt><dd>{}</dd>", esc(k), esc(&value(v))));
                }
            }
            None => out.push_str(&format!("<dt>evidence</dt><dd>{}</dd>", esc(&value(ev)))),
        }
        out.push_str("</dl>");
    }
    for (key, label) in [("explanation", "Why"), ("remediation", "What to do")] {
        if let Some(t) = str_of(f, key).filter(|t| !t.is_empty()) {
            out.push_str(&format!(
                "<p class=\"{key}\"><b>{label}:</b> {}</p>",
                esc(t)
            ));
        }
    }
    out.push_str("</li>");
    out
}

/// "pid 42 (nginx) in web": whatever the subject names.
fn subject(s: &Value) -> String {
    let mut parts = Vec::new();
    if let Some(p) = s.get("pid").and_then(Value::as_u64) {
        parts.push(format!("pid {p}"));
    }
    if let Some(c) = str_of(s, "comm") {
        parts.push(format!("({c})"));
    }
    let container = super::fmt::container_label(s, "");
    if !container.is_empty() {
        parts.push(format!("in {container}"));
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn findings_come_most_severe_first_with_all_their_parts() {
        let doc = json!({"findings": [
            {"kind": "sem_leak", "severity": "warning", "subject": {"pid": 7},
             "evidence": {"sets": 3}, "explanation": "why <x>", "remediation": "do y"},
            {"kind": "zombie_accumulation", "severity": "critical",
             "subject": {"container_name": "web"}, "evidence": {"zombies": 40},
             "explanation": "e", "remediation": "r", "extra": true},
        ]});
        let html = section(&doc).unwrap();
        let crit = html.find("zombie_accumulation").unwrap();
        let warn = html.find("sem_leak").unwrap();
        assert!(crit < warn, "{html}");
        assert!(html.contains("sev-critical") && html.contains("sev-warning"));
        assert!(html.contains("<dt>zombies</dt><dd>40</dd>"), "{html}");
        assert!(html.contains("why &lt;x&gt;"), "{html}");
        assert!(html.contains("in web"), "{html}");
    }

    #[test]
    fn no_findings_key_no_section_and_odd_findings_do_not_break_it() {
        assert!(section(&json!({})).is_none());
        assert!(
            section(&json!({"findings": []}))
                .unwrap()
                .contains("No findings")
        );
        let html = section(&json!({"findings": [1, {"severity": 3}]})).unwrap();
        assert!(html.contains("sev-unknown"), "{html}");
    }

    #[test]
    fn a_resolved_finding_says_so_with_when_it_was_seen() {
        let doc = json!({"findings": [
            {"kind": "sem_leak", "severity": "warning", "subject": {},
             "first_seen_s": 7.0, "last_seen_s": 26.5, "active": false},
            {"kind": "zombie_accumulation", "severity": "warning", "subject": {},
             "first_seen_s": 3.0, "last_seen_s": 30.0, "active": true},
        ]});
        let html = section(&doc).unwrap();
        assert!(
            html.contains("Resolved: seen from 7.0 s to 26.5 s"),
            "{html}"
        );
        assert!(html.contains("Seen from 3.0 s, still active"), "{html}");
    }
}
