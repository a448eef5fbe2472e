//! `ctrace report --html`, `trace --html` and `bench seccomp --html` in real headless Chromium:
//! every kind of report (recorded ones from tests/fixtures/html, and real runs of trace, serve's
//! /report and bench seccomp) loads; the DOM holds one SVG per chart with the bars or series its
//! data says; a screenshot shows colour inside every chart's frame; nothing is fetched (the
//! page's Content-Security-Policy refuses remote sources, and Chromium's log shows no attempt);
//! it prints to PDF. A golden test keeps the recorded reports' chart data stable. (The Grafana
//! dashboard's panels: grafana.rs.)

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use serde_json::Value;
use tests::{
    chromium, in_ci,
    page::{Figure, check_against_report, figures, frames},
    root, run_ctrace,
    serve::Agent,
    skip_or_fail,
};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/html")
        .join(name)
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Chromium is needed: as root it is installed; otherwise it must already be there.
fn chromium_ready() -> bool {
    if Path::new("/usr/bin/chromium").exists() || root() {
        chromium::install_if_missing();
        true
    } else {
        false
    }
}

/// `ctrace report --html OUT REPORT`, which must succeed.
fn render(report: &Path, out: &Path) {
    let (code, _, err) = run_ctrace(&[
        "report",
        "--html",
        out.to_str().unwrap(),
        report.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "ctrace report failed: {err}");
}

/// Everything every page must pass in Chromium; the figures, for the caller's own checks.
fn check_page(page: &Path) -> Vec<Figure> {
    let name = page.file_stem().unwrap().to_string_lossy().into_owned();
    let dom = chromium::dump_dom(page);
    assert!(
        dom.stdout.contains("</html>"),
        "{name}: no DOM: {}",
        dom.log
    );
    assert!(!dom.stdout.contains("<script"), "{name}: a script");
    let figs = figures(&dom.stdout);
    assert!(!figs.is_empty(), "{name}: no charts");
    for f in &figs {
        assert_eq!(f.svgs, 1, "{name}: {f:?}");
        assert!(f.drawn > 0, "{name}: an empty chart was drawn: {f:?}");
        assert_eq!(f.shapes, f.drawn, "{name}: {} shapes: {f:?}", f.shape);
        match f.kind.as_str() {
            "curves" => {
                let curves = f.data["curves"].as_array().unwrap().len();
                assert_eq!((f.series, f.legend), (curves, curves), "{name}: {f:?}");
            }
            "bars" => {
                let bars = f.data["bars"].as_array().unwrap();
                let non_zero = bars
                    .iter()
                    .flat_map(|b| b["values"].as_array().unwrap())
                    .filter(|v| v.as_f64().unwrap() != 0.0)
                    .count();
                if f.data["log"] == false {
                    assert_eq!(f.drawn, non_zero, "{name}: {f:?}");
                }
            }
            "hist" => {
                let non_empty = f.data["buckets"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|b| b["count"].as_u64().unwrap() > 0)
                    .count();
                assert_eq!(f.drawn, non_empty, "{name}: {f:?}");
            }
            k => panic!("{name}: unknown chart kind {k}"),
        }
    }
    let fetches = chromium::fetch_lines(&dom.log);
    assert!(
        fetches.is_empty(),
        "{name}: the page reached out: {fetches:#?}"
    );

    let png = chromium::scratch(&format!("{name}.png"));
    let height = (2000 + 400 * figs.len() as u32).min(16_000);
    let shot = chromium::screenshot(page, &png, 1400, height);
    let fetches = chromium::fetch_lines(&shot.log);
    assert!(
        fetches.is_empty(),
        "{name}: the page reached out: {fetches:#?}"
    );
    let boxes = frames(&png);
    assert_eq!(
        boxes.len(),
        figs.len(),
        "{name}: chart frames in {}: {boxes:?}",
        png.display()
    );
    for b in &boxes {
        assert!(
            b.coloured >= 20,
            "{name}: a blank chart at ({}, {})-({}, {}) in {}",
            b.x0,
            b.y0,
            b.x1,
            b.y1,
            png.display()
        );
    }

    let pdf = chromium::scratch(&format!("{name}.pdf"));
    let _ = std::fs::remove_file(&pdf);
    chromium::print_to_pdf(page, &pdf);
    let bytes = std::fs::read(&pdf).unwrap();
    assert!(bytes.starts_with(b"%PDF-"), "{name}: not a PDF");
    assert!(
        bytes.len() > 10_000,
        "{name}: a PDF of {} bytes",
        bytes.len()
    );
    figs
}

const FIXTURES: [&str; 3] = ["trace", "bench-seccomp", "bench-overhead"];

#[test]
fn recorded_reports_of_every_kind_render_in_chromium() {
    if !chromium_ready() {
        skip_or_fail("chromium is not installed and this test is not root to install it");
        return;
    }
    for name in FIXTURES {
        let report = fixture(&format!("{name}.json"));
        let page = chromium::scratch(&format!("{name}.html"));
        render(&report, &page);
        let figs = check_page(&page);
        let html = std::fs::read_to_string(&page).unwrap();
        check_against_report(name, &read_json(&report), &figs, &html);
    }
}

/// The findings come first, most severe first, coloured by severity.
#[test]
fn findings_come_first_coloured_by_severity() {
    let page = chromium::scratch("findings.html");
    render(&fixture("trace.json"), &page);
    let html = std::fs::read_to_string(&page).unwrap();
    let first_finding = html.find("<li class=\"finding").expect("findings");
    let first_chart = html.find("<figure").expect("charts");
    assert!(first_finding < first_chart);
    for part in [
        "class=\"evidence\"",
        "class=\"explanation\"",
        "class=\"remediation\"",
    ] {
        assert_eq!(html.matches(part).count(), 3, "{part}");
    }
    assert!(html.contains("sev-warning"));
}

/// The CSP check is real: the same page with a remote image and stylesheet is refused, and
/// Chromium's log says so.
#[test]
fn a_remote_source_is_refused_and_logged() {
    if !chromium_ready() {
        skip_or_fail("chromium is not installed and this test is not root to install it");
        return;
    }
    let page = chromium::scratch("remote.html");
    render(&fixture("bench-overhead.json"), &page);
    let html = std::fs::read_to_string(&page).unwrap().replace(
        "<main>",
        "<main><img src=\"http://192.0.2.1/x.png\"><link rel=\"stylesheet\" href=\"https://192.0.2.1/a.css\">",
    );
    std::fs::write(&page, html).unwrap();
    let run = chromium::dump_dom(&page);
    let refused: Vec<&str> = run
        .log
        .lines()
        .filter(|l| l.contains("Content Security Policy"))
        .collect();
    assert_eq!(refused.len(), 2, "{}", run.log);
}

fn charts_of(html: &str) -> Value {
    Value::Array(
        figures(html)
            .into_iter()
            .map(|f| serde_json::json!({"section": f.section, "chart": f.data}))
            .collect(),
    )
}

/// The chart data drawn from each recorded report is what the golden file says.
#[test]
fn golden_chart_data_of_the_recorded_reports() {
    for name in FIXTURES {
        let page = chromium::scratch(&format!("golden-{name}.html"));
        render(&fixture(&format!("{name}.json")), &page);
        let got = charts_of(&std::fs::read_to_string(&page).unwrap());
        let golden = fixture(&format!("{name}.charts.json"));
        if std::env::var("UPDATE_GOLDEN").is_ok_and(|v| v == "1") && !in_ci() {
            std::fs::write(&golden, serde_json::to_string_pretty(&got).unwrap() + "\n").unwrap();
            continue;
        }
        let want = read_json(&golden);
        assert!(
            got == want,
            "{name}: the chart data changed; if meant, rerun with UPDATE_GOLDEN=1.\ngot: {}",
            serde_json::to_string_pretty(&got).unwrap()
        );
    }
}

#[test]
fn bad_input_is_one_line_and_a_non_zero_exit() {
    let out = chromium::scratch("bad.html");
    let not_report = chromium::scratch("not-a-report.json");
    std::fs::write(&not_report, "{\"hello\": 1}").unwrap();
    let not_json = chromium::scratch("not-json.json");
    std::fs::write(&not_json, "<html>").unwrap();
    for (input, says) in [
        ("/nonexistent/report.json", "cannot read"),
        (not_report.to_str().unwrap(), "not a ctrace report"),
        (not_json.to_str().unwrap(), "not JSON"),
    ] {
        let (code, stdout, stderr) =
            run_ctrace(&["report", "--html", out.to_str().unwrap(), input]);
        assert_ne!(code, 0, "{input}");
        assert!(stdout.is_empty(), "{input}: {stdout}");
        assert_eq!(stderr.lines().count(), 1, "{input}: {stderr}");
        assert!(stderr.contains(says), "{input}: {stderr}");
        assert!(!stderr.contains("panicked"), "{input}: {stderr}");
    }
}

#[test]
fn trace_html_from_a_real_run() {
    if !root() || !chromium_ready() {
        return;
    }
    let page = chromium::scratch("trace-live.html");
    let _ = std::fs::remove_file(&page);
    let (code, stdout, stderr) = run_ctrace(&[
        "trace",
        "--duration",
        "3s",
        "--json",
        "--top",
        "2",
        "--html",
        page.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let report: Value = serde_json::from_str(&stdout).expect("the JSON report still on stdout");
    let figs = check_page(&page);
    assert!(
        figs.iter()
            .any(|f| f.section == "seccomp" && f.kind == "hist"),
        "a node always makes syscalls: {figs:?}"
    );
    check_against_report(
        "trace",
        &report,
        &figs,
        &std::fs::read_to_string(&page).unwrap(),
    );
}

#[test]
fn serve_report_renders() {
    if !root() || !chromium_ready() {
        return;
    }
    let agent = Agent::start("html-serve", &["--interval", "500ms"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    let body = loop {
        let (code, body) = agent.get("/report");
        if code == 200
            && serde_json::from_str::<Value>(&body).is_ok_and(|v| v["seccomp"].is_object())
        {
            break body;
        }
        assert!(Instant::now() < deadline, "no /report: {code} {body}");
        std::thread::sleep(Duration::from_millis(300));
    };
    assert!(agent.tracer.terminate().success());
    let saved = chromium::scratch("serve-report.json");
    std::fs::write(&saved, &body).unwrap();
    let page = chromium::scratch("serve-report.html");
    render(&saved, &page);
    let figs = check_page(&page);
    let report: Value = serde_json::from_str(&body).unwrap();
    check_against_report(
        "trace",
        &report,
        &figs,
        &std::fs::read_to_string(&page).unwrap(),
    );
}

#[test]
fn bench_seccomp_html_from_a_real_run() {
    if !root() || !chromium_ready() {
        return;
    }
    let page = chromium::scratch("bench-seccomp-live.html");
    let _ = std::fs::remove_file(&page);
    let (code, stdout, stderr) = run_ctrace(&[
        "bench",
        "seccomp",
        "--workload",
        "getppid",
        "--workload",
        "pipe",
        "--iterations",
        "2000",
        "--runs",
        "3",
        "--json",
        "--html",
        page.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let figs = check_page(&page);
    check_against_report(
        "bench-seccomp",
        &report,
        &figs,
        &std::fs::read_to_string(&page).unwrap(),
    );
}
