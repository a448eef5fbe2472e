//! Assembles the page: the template (`report.html`, the one HTML file), the header's facts, the
//! findings, then each section's groups of charts. Every chart is a `<figure>` holding its SVG
//! and, in `data-chart`, the data it was drawn from.

use anyhow::Result;

use super::{chart::Chart, fmt::esc, svg};

const TEMPLATE: &str = include_str!("report.html");

/// A titled part of the page (one problem, or one benchmark).
pub struct Section {
    pub id: &'static str,
    pub title: String,
    /// A line of plain text under the title.
    pub intro: String,
    pub groups: Vec<Group>,
}

/// Charts about one subject: a container, a process, a workload.
pub struct Group {
    pub heading: Option<String>,
    pub note: String,
    pub charts: Vec<Chart>,
}

impl Group {
    pub fn new(heading: Option<String>, note: String, charts: Vec<Chart>) -> Group {
        Group {
            heading,
            note,
            charts,
        }
    }
}

pub struct Page {
    pub title: String,
    /// (label, value) pairs in the header.
    pub facts: Vec<(String, String)>,
    /// Already-rendered HTML placed first (the findings).
    pub first: Option<String>,
    pub sections: Vec<Section>,
}

impl Page {
    pub fn render(&self) -> Result<String> {
        let mut facts = String::from("<dl class=\"facts\">");
        for (k, v) in &self.facts {
            facts.push_str(&format!("<dt>{}</dt><dd>{}</dd>", esc(k), esc(v)));
        }
        facts.push_str("</dl>");
        let mut body = self.first.clone().unwrap_or_default();
        let mut n = 0;
        for s in &self.sections {
            let groups: Vec<&Group> = s
                .groups
                .iter()
                .filter(|g| g.charts.iter().any(|c| !c.is_empty()))
                .collect();
            body.push_str(&format!(
                "<section id=\"{}\"><h2>{}</h2>",
                s.id,
                esc(&s.title)
            ));
            if !s.intro.is_empty() {
                body.push_str(&format!("<p class=\"intro\">{}</p>", esc(&s.intro)));
            }
            for g in groups {
                body.push_str("<div class=\"group\">");
                if let Some(h) = &g.heading {
                    body.push_str(&format!("<h3>{}</h3>", esc(h)));
                }
                if !g.note.is_empty() {
                    body.push_str(&format!("<p class=\"note\">{}</p>", esc(&g.note)));
                }
                body.push_str("<div class=\"charts\">");
                for c in g.charts.iter().filter(|c| !c.is_empty()) {
                    n += 1;
                    body.push_str(&figure(c, n, s.id)?);
                }
                body.push_str("</div></div>");
            }
            body.push_str("</section>");
        }
        let title = esc(&self.title);
        let charts = n.to_string();
        Ok(fill(
            TEMPLATE,
            &[
                ("title", &title),
                ("facts", &facts),
                ("charts", &charts),
                ("body", &body),
            ],
        ))
    }
}

/// Replaces each `{{name}}` in one pass, so that a value holding `{{...}}` stays as it is.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) => match values.iter().find(|(k, _)| *k == &after[..end]) {
                Some((_, v)) => {
                    out.push_str(v);
                    rest = &after[end + 2..];
                }
                None => {
                    out.push_str("{{");
                    rest = after;
                }
            },
            None => {
                out.push_str("{{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn figure(c: &Chart, n: usize, section: &str) -> Result<String> {
    let data = serde_json::to_string(c)?;
    let mut legend = String::new();
    let items = c.legend();
    if !items.is_empty() {
        legend.push_str("<ul class=\"legend\">");
        for (name, (r, g, b)) in items {
            legend.push_str(&format!(
                "<li><span class=\"swatch\" style=\"background:rgb({r},{g},{b})\"></span>{}</li>",
                esc(&name)
            ));
        }
        legend.push_str("</ul>");
    }
    Ok(format!(
        "<figure class=\"chart\" id=\"chart-{n}\" data-section=\"{section}\" data-kind=\"{}\" data-shape=\"{}\" \
         data-drawn=\"{}\" data-series=\"{}\" data-chart=\"{}\"><figcaption>{}</figcaption>{legend}{}</figure>",
        kind(c),
        c.shape(),
        c.drawn(),
        c.series(),
        esc(&data),
        esc(&c.title),
        svg::render(c)?
    ))
}

fn kind(c: &Chart) -> &'static str {
    match c.body {
        super::chart::Body::Hist { .. } => "hist",
        super::chart::Body::Bars { .. } => "bars",
        super::chart::Body::Curves { .. } => "curves",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_is_filled_once() {
        let out = fill("<{{a}}|{{b}}|{{c}}>", &[("a", "{{b}}"), ("b", "x")]);
        assert_eq!(out, "<{{b}}|x|{{c}}>");
    }

    #[test]
    fn the_template_forbids_every_remote_source() {
        assert!(TEMPLATE.contains("Content-Security-Policy"));
        assert!(TEMPLATE.contains("default-src 'none'"));
        assert!(!TEMPLATE.contains("<script"));
        assert!(!TEMPLATE.contains("http://") && !TEMPLATE.contains("https://"));
    }
}
