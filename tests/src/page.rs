//! An HTML report page as a test reads it: its charts from the DOM (`figures`) and the colour
//! inside each chart's frame in a screenshot (`frames`).

use std::{collections::BTreeSet, path::Path};

use serde_json::Value;

/// chart.rs's palette: the colours of data shapes (axes are grey, limits dark red).
pub const PALETTE: [&str; 8] = [
    "#1F77B4", "#D62728", "#2CA02C", "#FF7F0E", "#9467BD", "#8C564B", "#E377C2", "#17BECF",
];

pub fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

pub fn attr(tag: &str, name: &str) -> Option<String> {
    let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    let end = tag[start..].find('"')? + start;
    Some(unescape(&tag[start..end]))
}

/// One chart as the DOM has it.
#[derive(Debug)]
pub struct Figure {
    pub section: String,
    pub kind: String,
    pub shape: String,
    pub drawn: usize,
    pub series: usize,
    pub data: Value,
    pub svgs: usize,
    /// Data shapes in the SVG: rects or polylines in a palette colour.
    pub shapes: usize,
    pub legend: usize,
}

pub fn figures(html: &str) -> Vec<Figure> {
    html.split("<figure ")
        .skip(1)
        .filter(|f| f.starts_with("class=\"chart\""))
        .map(|f| {
            let f = &f[..f.find("</figure>").expect("a closed figure")];
            let tag = format!(" {}", &f[..f.find('>').unwrap()]);
            let shape = attr(&tag, "data-shape").unwrap();
            let shapes = f
                .split(&format!("<{shape} "))
                .skip(1)
                .filter(|t| {
                    let t = &t[..t.find('>').unwrap_or(t.len())];
                    PALETTE.iter().any(|c| t.contains(&format!("\"{c}\"")))
                })
                .count();
            let num = |n: &str| attr(&tag, n).and_then(|v| v.parse().ok()).unwrap();
            Figure {
                section: attr(&tag, "data-section").unwrap(),
                kind: attr(&tag, "data-kind").unwrap(),
                drawn: num("data-drawn"),
                series: num("data-series"),
                data: serde_json::from_str(&attr(&tag, "data-chart").unwrap()).unwrap(),
                svgs: f.matches("<svg").count(),
                shapes,
                legend: f.matches("<span class=\"swatch\"").count(),
                shape,
            }
        })
        .collect()
}

/// A chart's frame in a screenshot and how many saturated (data-coloured) pixels it holds.
#[derive(Debug)]
pub struct Frame {
    pub x0: usize,
    pub y0: usize,
    pub x1: usize,
    pub y1: usize,
    pub coloured: usize,
}

/// Finds the figures' 2 px frames (rgb 184,192,204) and counts colour inside each, below the
/// caption and legend (so that a blank SVG under a legend does not pass).
pub fn frames(png_path: &Path) -> Vec<Frame> {
    let file = std::fs::File::open(png_path).unwrap();
    let mut dec = png::Decoder::new(file);
    dec.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = dec.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let (w, h) = (info.width as usize, info.height as usize);
    let channels = info.color_type.samples();
    let px = |x: usize, y: usize| {
        let i = (y * w + x) * channels;
        (buf[i] as i32, buf[i + 1] as i32, buf[i + 2] as i32)
    };
    let is_frame = |x: usize, y: usize| {
        let (r, g, b) = px(x, y);
        (r - 184).abs() + (g - 192).abs() + (b - 204).abs() <= 24
    };
    // Horizontal runs of frame colour, 150 px or longer: the top and bottom edges.
    let mut edges: Vec<(usize, usize, usize)> = Vec::new();
    for y in 0..h {
        let mut x = 0;
        while x < w {
            if is_frame(x, y) {
                let start = x;
                while x < w && is_frame(x, y) {
                    x += 1;
                }
                if x - start >= 150 {
                    // A thick edge is one edge: skip rows continuing one just seen.
                    let cont = edges.iter().any(|&(ey, ex0, ex1)| {
                        y - ey <= 3 && ex0.abs_diff(start) <= 3 && ex1.abs_diff(x) <= 3
                    });
                    if cont {
                        if let Some(e) = edges
                            .iter_mut()
                            .rev()
                            .find(|(_, ex0, ex1)| ex0.abs_diff(start) <= 3 && ex1.abs_diff(x) <= 3)
                        {
                            e.0 = y;
                        }
                    } else {
                        edges.push((y, start, x));
                    }
                }
            } else {
                x += 1;
            }
        }
    }
    // Pair each top edge with the next edge below it of the same span joined by a frame side.
    let mut out = Vec::new();
    let mut used = vec![false; edges.len()];
    for i in 0..edges.len() {
        if used[i] {
            continue;
        }
        let (ty, tx0, tx1) = edges[i];
        let below = (i + 1..edges.len()).find(|&j| {
            let (by, bx0, bx1) = edges[j];
            !used[j]
                && by > ty + 20
                && bx0.abs_diff(tx0) <= 3
                && bx1.abs_diff(tx1) <= 3
                && (ty..by).all(|y| (tx0..tx0 + 4).any(|x| is_frame(x, y)))
        });
        let Some(j) = below else { continue };
        used[i] = true;
        used[j] = true;
        let by = edges[j].0;
        let mut coloured = 0;
        for y in (ty + 40).min(by)..by.saturating_sub(4) {
            for x in tx0 + 4..tx1.saturating_sub(4) {
                let (r, g, b) = px(x, y);
                if r.max(g).max(b) - r.min(g).min(b) >= 60 {
                    coloured += 1;
                }
            }
        }
        out.push(Frame {
            x0: tx0,
            y0: ty,
            x1: tx1,
            y1: by,
            coloured,
        });
    }
    out
}

fn in_section<'a>(figs: &'a [Figure], section: &str) -> Vec<&'a Figure> {
    figs.iter().filter(|f| f.section == section).collect()
}

/// Checks that follow from the report itself, not from the page's own data attributes.
pub fn check_against_report(kind: &str, report: &Value, figs: &[Figure], html: &str) {
    let arr = |v: &Value| v.as_array().cloned().unwrap_or_default();
    match kind {
        "trace" => {
            let findings = arr(&report["findings"]);
            assert_eq!(
                html.matches("<li class=\"finding sev-").count(),
                findings.len()
            );
            if let Some(o) = report.get("overlay") {
                let groups = arr(&o["groups"]);
                let ov = in_section(figs, "overlay");
                let with_bytes = groups.iter().filter(|g| g["bytes"].as_f64() > Some(0.0));
                if with_bytes.clone().count() > 0 {
                    assert_eq!(ov[0].drawn, with_bytes.count());
                    assert_eq!(
                        ov.len(),
                        1 + groups.len(),
                        "one latency chart per container"
                    );
                }
            }
            if let Some(s) = report.get("sigpipe") {
                let pairs: BTreeSet<(String, String)> = arr(&s["signals"])
                    .iter()
                    .map(|x| (x["pid"].to_string(), x["outcome"].to_string()))
                    .collect();
                if !pairs.is_empty() {
                    assert_eq!(in_section(figs, "sigpipe")[0].drawn, pairs.len());
                }
            }
            if let Some(z) = report.get("zombie") {
                let n = arr(&z["groups"])
                    .iter()
                    .filter(|g| g["zombies"].as_u64() > Some(0))
                    .count();
                if n > 0 {
                    assert_eq!(in_section(figs, "zombie")[0].drawn, n);
                }
            }
            if let Some(s) = report.get("sem") {
                let n: usize = arr(&s["namespaces"])
                    .iter()
                    .map(|ns| {
                        let sets = ns["sets"].as_u64().unwrap_or(0);
                        let leaked = ns["leaked"].as_u64().unwrap_or(0);
                        usize::from(sets > leaked) + usize::from(leaked > 0)
                    })
                    .sum();
                if n > 0 {
                    let sem = in_section(figs, "sem");
                    assert_eq!(sem[0].drawn, n);
                    assert_eq!(sem[0].series, 2, "in use and leaked");
                }
            }
            if let Some(s) = report.get("seccomp") {
                let containers = arr(&s["containers"]);
                let hists: usize = containers
                    .iter()
                    .map(|c| {
                        arr(&c["top"])
                            .iter()
                            .take(5)
                            .filter(|t| !arr(&t["hist_ns"]).is_empty())
                            .count()
                    })
                    .sum();
                let drawn = in_section(figs, "seccomp")
                    .iter()
                    .filter(|f| f.kind == "hist")
                    .count();
                assert!(
                    drawn >= hists,
                    "{drawn} histograms for {hists} in containers"
                );
            }
        }
        "bench-seccomp" => {
            let results = arr(&report["results"]);
            let workloads: BTreeSet<String> =
                results.iter().map(|r| r["workload"].to_string()).collect();
            let curves: Vec<&Figure> = figs.iter().filter(|f| f.kind == "curves").collect();
            assert_eq!(
                curves.len(),
                workloads.len(),
                "one curve chart per workload"
            );
            let setups = arr(&report["setups"]).len();
            for c in curves {
                assert_eq!(c.series, setups, "one curve per setup: {c:?}");
            }
        }
        "bench-overhead" => {
            let cases = arr(&report["cases"]);
            let added = cases
                .iter()
                .filter(|c| c["added_ns"].as_f64().is_some_and(|v| v != 0.0))
                .count();
            assert_eq!(figs[0].drawn, added, "a bar per case with an added cost");
            let ratio = cases
                .iter()
                .filter(|c| c["vs_floor"].as_f64().is_some_and(|v| v != 0.0))
                .count();
            assert_eq!(figs[1].drawn, ratio);
        }
        k => panic!("unknown kind {k}"),
    }
}
