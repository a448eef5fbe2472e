//! The full-screen live view, drawn with ratatui into whatever area the terminal has: the
//! active findings at the top, then one block per problem, seccomp's with its busiest
//! processes. Everything is clipped to the area, so no line ever wraps.

use ratatui::{
    Frame,
    layout::{Constraint, Layout, Rect},
    style::{Color, Modifier, Style},
    text::{Line, Span},
    widgets::{Block, Borders, Cell, Paragraph, Row, Table},
};

use super::model::{FindingRow, Model, ProcessRow};
use crate::shared::Severity;

/// The order of seccomp's process table; `s` switches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    /// Syscalls per second over the last interval.
    #[default]
    Rate,
    /// Time inside syscalls so far.
    Time,
}

impl Sort {
    pub fn next(self) -> Sort {
        match self {
            Sort::Rate => Sort::Time,
            Sort::Time => Sort::Rate,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Sort::Rate => "syscalls/s",
            Sort::Time => "time in syscalls",
        }
    }

    fn order(self, rows: &mut [&ProcessRow]) {
        match self {
            Sort::Rate => rows.sort_by(|a, b| b.per_s.total_cmp(&a.per_s)),
            Sort::Time => rows.sort_by(|a, b| {
                b.time_ms
                    .unwrap_or(0.0)
                    .total_cmp(&a.time_ms.unwrap_or(0.0))
                    .then(b.per_s.total_cmp(&a.per_s))
            }),
        }
    }
}

/// What the screen shows: the latest model, with the findings and processes of the latest
/// snapshot (a model without a snapshot keeps them).
#[derive(Default)]
pub struct State {
    pub model: Model,
    findings: Vec<FindingRow>,
    processes: Vec<ProcessRow>,
    pub sort: Sort,
}

impl State {
    pub fn update(&mut self, mut m: Model) {
        if let Some(f) = m.findings.take() {
            self.findings = f;
        }
        if let Some(p) = m.processes.take() {
            self.processes = p;
        }
        self.model = m;
    }
}

fn severity_style(s: Severity) -> Style {
    match s {
        Severity::Critical => Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
        Severity::Warning => Style::default().fg(Color::Yellow),
        Severity::Info => Style::default(),
    }
}

pub fn draw(f: &mut Frame, st: &State) {
    let area = f.area();
    let others: Vec<&(&'static str, String)> = st
        .model
        .problems
        .iter()
        .filter(|(n, l)| *n != "seccomp" && !l.is_empty())
        .collect();
    let seccomp = st
        .model
        .problems
        .iter()
        .find(|(n, l)| *n == "seccomp" && !l.is_empty());
    let findings_h = st.findings.len().clamp(1, 6) as u16 + 2;
    let mut constraints = vec![Constraint::Length(1), Constraint::Length(findings_h)];
    // A title rule and a line each: room for seccomp's table on a 24-line terminal.
    constraints.extend(others.iter().map(|_| Constraint::Length(2)));
    if seccomp.is_some() {
        constraints.push(Constraint::Min(4));
    } else {
        constraints.push(Constraint::Min(0));
    }
    let areas = Layout::vertical(constraints).split(area);
    let Some((&title, rest)) = areas.split_first() else {
        return;
    };
    f.render_widget(Paragraph::new(title_line(st)), title);
    let Some((&findings, rest)) = rest.split_first() else {
        return;
    };
    draw_findings(f, findings, &st.findings);
    for ((name, line), &a) in others.iter().zip(rest) {
        let text = line.strip_prefix(&format!("{name}: ")).unwrap_or(line);
        let block = Block::new()
            .borders(Borders::TOP)
            .title(format!(" {name} "));
        f.render_widget(Paragraph::new(text.to_string()).block(block), a);
    }
    if let (Some((_, line)), Some(&a)) = (seccomp, rest.get(others.len())) {
        draw_seccomp(f, a, line, st);
    }
}

fn title_line(st: &State) -> Line<'static> {
    Line::from(vec![
        Span::styled(
            "ctrace trace",
            Style::default().add_modifier(Modifier::BOLD),
        ),
        Span::raw(format!(
            " {:.0}s · q: stop and report · s: sort by {}",
            st.model.elapsed_s,
            st.sort.next().name()
        )),
    ])
}

fn draw_findings(f: &mut Frame, a: Rect, rows: &[FindingRow]) {
    let block = Block::bordered().title(format!(" findings: {} active ", rows.len()));
    if rows.is_empty() {
        f.render_widget(Paragraph::new("none so far").block(block), a);
        return;
    }
    let lines: Vec<Line> = rows
        .iter()
        .map(|r| {
            Line::from(vec![
                Span::styled(
                    format!("{:<8} ", r.severity.name().to_uppercase()),
                    severity_style(r.severity),
                ),
                Span::raw(format!("{} {}", r.kind, r.subject)),
            ])
        })
        .collect();
    f.render_widget(Paragraph::new(lines).block(block), a);
}

fn draw_seccomp(f: &mut Frame, a: Rect, line: &str, st: &State) {
    let summary = line.strip_prefix("seccomp: ").unwrap_or(line);
    let block = Block::bordered().title(format!(" seccomp: {summary} "));
    let mut rows: Vec<&ProcessRow> = st.processes.iter().collect();
    st.sort.order(&mut rows);
    let header = Row::new(["PID", "COMM", "CONTAINER", "SYSCALLS/S", "TIME MS", "TOP"])
        .style(Style::default().add_modifier(Modifier::BOLD));
    let body = rows.iter().take(a.height as usize).map(|p| {
        Row::new(vec![
            Cell::from(p.pid.to_string()),
            Cell::from(p.comm.clone()),
            Cell::from(p.container.clone()),
            Cell::from(format!("{:.0}", p.per_s)),
            Cell::from(p.time_ms.map_or_else(|| "-".into(), |t| format!("{t:.0}"))),
            Cell::from(p.top.clone()),
        ])
    });
    let widths = [
        Constraint::Length(7),
        Constraint::Length(15),
        Constraint::Length(12),
        Constraint::Length(10),
        Constraint::Length(9),
        Constraint::Min(6),
    ];
    let sorted = format!(" by {} ", st.sort.name());
    let table = Table::new(body, widths)
        .header(header)
        .block(block.title_bottom(sorted));
    f.render_widget(table, a);
}

#[cfg(test)]
mod tests {
    use ratatui::{Terminal, backend::TestBackend};

    use super::*;

    fn state() -> State {
        let mut st = State::default();
        st.update(Model {
            elapsed_s: 3.0,
            problems: vec![
                (
                    "seccomp",
                    "seccomp: 120000 syscalls (+40000/s) processes=2 containers=1 drops=0".into(),
                ),
                ("zombie", "zombie: 6 now, 6 exits, 0 reaped at once".into()),
                ("sem", format!("sem: {}", "long ".repeat(40))),
            ],
            findings: Some(vec![FindingRow {
                severity: Severity::Critical,
                kind: "zombie_accumulation",
                subject: "noreap-init (pid 42)".into(),
            }]),
            new_findings: Vec::new(),
            processes: Some(vec![
                ProcessRow {
                    pid: 1,
                    comm: "slow".into(),
                    container: "-".into(),
                    per_s: 10.0,
                    time_ms: Some(900.0),
                    top: "futex".into(),
                },
                ProcessRow {
                    pid: 2,
                    comm: "busy".into(),
                    container: "web".into(),
                    per_s: 5000.0,
                    time_ms: Some(3.0),
                    top: "getppid".into(),
                },
            ]),
        });
        st
    }

    fn screen(st: &State, w: u16, h: u16) -> Vec<String> {
        let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
        t.draw(|f| draw(f, st)).unwrap();
        let buf = t.backend().buffer().clone();
        (0..h)
            .map(|y| (0..w).map(|x| buf[(x, y)].symbol().to_string()).collect())
            .collect()
    }

    #[test]
    fn findings_on_top_and_the_table_sorted_both_ways() {
        let mut st = state();
        let s = screen(&st, 80, 30).join("\n");
        assert!(
            s.contains("CRITICAL zombie_accumulation noreap-init"),
            "{s}"
        );
        let (busy, slow) = (s.find("busy").unwrap(), s.find("slow").unwrap());
        assert!(busy < slow, "by rate: {s}");
        st.sort = st.sort.next();
        let s = screen(&st, 80, 30).join("\n");
        let (busy, slow) = (s.find("busy").unwrap(), s.find("slow").unwrap());
        assert!(slow < busy, "by time: {s}");
    }

    #[test]
    fn tiny_screens_do_not_panic() {
        let st = state();
        for (w, h) in [(1, 1), (10, 3), (20, 5), (80, 2), (200, 60)] {
            screen(&st, w, h);
        }
    }
}
