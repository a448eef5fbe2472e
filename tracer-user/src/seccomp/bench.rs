//! `ctrace bench seccomp`: the same workloads under several filter setups, side by side.

use std::{path::PathBuf, process::Command};

use anyhow::{Context as _, Result, bail};
use serde::Serialize;

mod commands;
mod leash;
pub mod stats;

use stats::Spread;

use super::{
    filter, profile,
    workload::{Timing, Workload},
};
use indicatif::ProgressBar;

use crate::{cli::BenchSeccompArgs, node, outln, progress, say};

/// A filter setup: none, a profile, or a running process's filters.
pub struct Setup {
    pub name: String,
    pub filters: Vec<Vec<u8>>,
}

impl Setup {
    fn instructions(&self) -> usize {
        self.filters.iter().map(|f| f.len() / filter::INSN).sum()
    }
}

/// Compiles a profile for this node, printing what Docker would have warned about.
fn compiled(text: &str, origin: &str, node: &profile::Node) -> Result<Vec<u8>> {
    let p = profile::parse(text, origin)?;
    let c = profile::compile(&p, node).with_context(|| origin.to_string())?;
    for w in &c.warnings {
        crate::say!("ctrace: warning: {origin}: {w}");
    }
    Ok(c.bpf)
}

pub fn setups(args: &BenchSeccompArgs) -> Result<Vec<Setup>> {
    let node = profile::Node::this((!args.caps.is_empty()).then_some(&args.caps[..]));
    let mut out = vec![Setup {
        name: "none".into(),
        filters: vec![],
    }];
    // Docker's own default.json; without it the user's profiles and pids still run.
    match profile::docker_default() {
        Ok(text) => out.push(Setup {
            name: "docker-default".into(),
            filters: vec![compiled(&text, "docker-default", &node)?],
        }),
        Err(e) if args.profiles.is_empty() && args.pids.is_empty() => return Err(e),
        Err(e) => crate::say!("ctrace: warning: {e:#}"),
    }
    for path in &args.profiles {
        let text = crate::input::read_text(path, crate::input::PROFILE_MAX, "--profile")?;
        out.push(Setup {
            name: path
                .file_name()
                .map_or("profile".into(), |n| n.to_string_lossy().into_owned()),
            // A profile that does not compile is the user's to fix: exit 2.
            filters: vec![
                compiled(&text, &path.display().to_string(), &node)
                    .map_err(|e| crate::out::Usage(format!("{e:#}")))?,
            ],
        });
    }
    for &pid in &args.pids {
        let comm = node::proc_comm(pid).unwrap_or_default();
        // A process with no filter is a row that says so (measured as none), not an abort
        // that loses the other setups' results.
        let mode = node::proc_status_field(pid, "Seccomp");
        if mode.as_deref().is_some_and(|m| m != "2") {
            out.push(Setup {
                name: format!("pid {pid} ({comm}, no seccomp filter)"),
                filters: Vec::new(),
            });
            continue;
        }
        let filters = filter::filters_of(pid)?;
        out.push(Setup {
            name: format!("pid {pid} ({comm})"),
            filters,
        });
    }
    Ok(out)
}

/// Writes each setup's programs as `DIR/<setup>-<i>.bpf` (oldest filter first); their paths.
fn save_filters(dir: &std::path::Path, setups: &[Setup]) -> Result<Vec<Vec<String>>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut out = Vec::new();
    for s in setups {
        let slug: String = s
            .name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let mut paths = Vec::new();
        for (i, f) in s.filters.iter().enumerate() {
            let p = dir.join(format!("{}-{i}.bpf", slug.trim_matches('-')));
            std::fs::write(&p, f).with_context(|| format!("writing {}", p.display()))?;
            paths.push(p.display().to_string());
        }
        out.push(paths);
    }
    Ok(out)
}

/// Writes the filters where a child can read them; removed when dropped.
struct FilterFile(PathBuf);

impl FilterFile {
    fn new(filters: &[Vec<u8>]) -> Result<FilterFile> {
        let path = std::env::temp_dir().join(format!(
            "ctrace-filters-{}-{:x}",
            std::process::id(),
            rand()
        ));
        std::fs::write(&path, filter::encode(filters))?;
        Ok(FilterFile(path))
    }
}

impl Drop for FilterFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn rand() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// One child run of a workload under `filters`.
pub fn measure(
    w: Workload,
    iterations: u64,
    filters: &[Vec<u8>],
) -> Result<(Timing, Option<String>)> {
    let file = FilterFile::new(filters)?;
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.args([
        "__seccomp-child",
        "--workload",
        w.name(),
        "--iterations",
        &iterations.to_string(),
        "--filters",
    ])
    .arg(&file.0)
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped());
    let out = leash::run(&mut cmd, |c| Ok(c.wait_with_output()?))?;
    if !out.status.success() {
        bail!(
            "{} under a filter failed: {}",
            w.name(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let t: Timing = serde_json::from_value(v["timing"].clone())?;
    Ok((t, v["ssb"].as_str().map(String::from)))
}

#[derive(Serialize)]
struct Row {
    workload: &'static str,
    setup: String,
    /// Median over rounds of each round's mean: kept for comparison, not used for the loss.
    ns_per_op: f64,
    /// Medians over rounds of each round's hdr percentiles, and the largest time seen.
    p50_ns: u64,
    p99_ns: u64,
    max_ns: u64,
    /// p50 against none's p50.
    vs_none: f64,
    /// Median over rounds of (p50 - none's p50 in the same round) / syscalls per operation.
    lost_ns_per_syscall: f64,
    /// The spread of that difference over the rounds.
    lost_ns_per_syscall_min: f64,
    lost_ns_per_syscall_max: f64,
    rounds: usize,
    speculation_store_bypass: Option<String>,
}

fn node_facts() -> serde_json::Value {
    let (major, minor) = node::kernel_version();
    serde_json::json!({
        "kernel": node::kernel_release(),
        "action_cache": (major, minor) >= (5, 11),
        "seccomp_cache_file": std::path::Path::new("/proc/self/seccomp_cache").exists(),
        "spec_store_bypass": std::fs::read_to_string("/sys/devices/system/cpu/vulnerabilities/spec_store_bypass")
            .map(|s| s.trim().to_string()).ok(),
    })
}

/// The node facts line, printed before anything is measured.
fn facts_line(facts: &serde_json::Value) -> String {
    format!(
        "kernel {}; seccomp action cache: {}\n  spec_store_bypass: {}",
        facts["kernel"].as_str().unwrap_or("?"),
        if facts["action_cache"] == true {
            "yes (5.11+: calls allowed without\n  argument checks skip the filter)"
        } else {
            "no (before 5.11)"
        },
        facts["spec_store_bypass"].as_str().unwrap_or("?")
    )
}

/// The bar over every timed run of the bench (warm-ups included).
fn bench_bar(args: &BenchSeccompArgs, workloads: usize, setups: usize) -> ProgressBar {
    let runs = args.runs.max(1) as u64;
    let mut steps = workloads as u64 * runs * setups as u64;
    if !args.command.is_empty() {
        steps += match args.docker {
            Some(_) => 2 * (runs + 1),
            None => setups as u64 * (runs + 1),
        };
    }
    progress::enable();
    progress::bar(
        steps,
        "bench seccomp",
        &format!(
            "bench seccomp: {steps} timed runs ({workloads} workloads x {setups} setups x {runs} rounds); a terminal shows the progress"
        ),
    )
}

pub fn run(args: &BenchSeccompArgs) -> Result<()> {
    // What the user gave is checked first: bad input is one line and exit 2, root or not.
    if let Some(out) = &args.html {
        crate::input::check_writable(out, "--html")?;
    }
    if let Some(dir) = &args.save_filters {
        crate::input::check_dir_writable(dir, "--save-filters")?;
    }
    for path in &args.profiles {
        let text = crate::input::read_text(path, crate::input::PROFILE_MAX, "--profile")?;
        profile::parse(&text, &format!("--profile {}", path.display()))?;
    }
    node::require_root()?;
    let facts = node_facts();
    // The node first: in the text on stdout, or on stderr beside the JSON.
    if args.json {
        say!("ctrace: {}", facts_line(&facts));
    } else {
        outln!("{}", facts_line(&facts))?;
    }
    let setups = setups(args)?;
    // Another tracer's syscall probes slow every setup alike, hiding what a filter costs.
    // (After the input is checked: bad input stays one line.)
    crate::other_tracers::warn();
    if !args.json {
        for s in &setups {
            outln!(
                "  setup {:<28} {} filter(s), {} BPF instructions",
                s.name,
                s.filters.len(),
                s.instructions()
            )?;
        }
    }
    let workloads: Vec<Workload> = if args.workloads.is_empty() {
        Workload::ALL.to_vec()
    } else {
        args.workloads.clone()
    };
    let bar = bench_bar(args, workloads.len(), setups.len());
    let mut rows = Vec::new();
    for &w in &workloads {
        let iterations = if w == Workload::CloneWait {
            (args.iterations / 50).max(100)
        } else {
            args.iterations
        };
        // Runs are interleaved across setups so that drift hits all of them alike.
        let mut runs: Vec<Vec<(Timing, Option<String>)>> = vec![Vec::new(); setups.len()];
        for _ in 0..args.runs.max(1) {
            for (i, s) in setups.iter().enumerate() {
                bar.set_message(format!("{} under {}", w.name(), s.name));
                runs[i].push(measure(w, iterations, &s.filters)?);
                bar.inc(1);
            }
        }
        for (s, r) in setups.iter().zip(&runs) {
            let t: Vec<Timing> = r.iter().map(|(t, _)| *t).collect();
            let none: Vec<Timing> = runs[0].iter().map(|(t, _)| *t).collect();
            let lost = stats::lost_per_syscall(&none, &t, w.syscalls());
            let p50 = stats::median_u64(t.iter().map(|t| t.p50_ns));
            rows.push(Row {
                workload: w.name(),
                setup: s.name.clone(),
                ns_per_op: stats::median(t.iter().map(|t| t.ns_per_op)),
                p50_ns: p50,
                p99_ns: stats::median_u64(t.iter().map(|t| t.p99_ns)),
                max_ns: t.iter().map(|t| t.max_ns).max().unwrap_or(0),
                vs_none: p50 as f64
                    / stats::median_u64(none.iter().map(|t| t.p50_ns)).max(1) as f64,
                lost_ns_per_syscall: lost.median,
                lost_ns_per_syscall_min: lost.min,
                lost_ns_per_syscall_max: lost.max,
                rounds: t.len(),
                speculation_store_bypass: r.last().and_then(|(_, ssb)| ssb.clone()),
            });
        }
    }
    let commands = commands::time(args, &setups, &bar)?;
    let saved = match &args.save_filters {
        Some(dir) => save_filters(dir, &setups)?,
        None => vec![Vec::new(); setups.len()],
    };
    bar.finish_and_clear();
    // The results reach stdout even if the page cannot be written (a disk filled meanwhile).
    let page = crate::html::hook(args.html.as_deref(), 0, || {
        Ok(
            serde_json::json!({"node": facts, "setups": setups.iter().map(|s| serde_json::json!({"name": s.name, "instructions": s.instructions()})).collect::<Vec<_>>(), "results": rows, "command": commands}),
        )
    });
    if args.json {
        let setups_json: Vec<serde_json::Value> = setups
            .iter()
            .zip(&saved)
            .map(|(s, saved)| serde_json::json!({"name": s.name, "filters": s.filters.len(), "instructions": s.instructions(), "saved": saved}))
            .collect();
        let doc = serde_json::json!({"node": facts, "setups": setups_json, "results": rows, "command": commands});
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return page;
    }
    println!(
        "\n{:<11} {:<28} {:>7} {:>7} {:>9} {:>7} {:>22}  SSB under filter",
        "WORKLOAD", "SETUP", "P50", "P99", "MAX", "xNONE", "LOST NS/CALL [MIN, MAX]"
    );
    for r in &rows {
        let lost = Spread {
            median: r.lost_ns_per_syscall,
            min: r.lost_ns_per_syscall_min,
            max: r.lost_ns_per_syscall_max,
        };
        println!(
            "{:<11} {:<28} {:>7} {:>7} {:>9} {:>7.2} {:>22}  {}",
            r.workload,
            r.setup,
            r.p50_ns,
            r.p99_ns,
            r.max_ns,
            r.vs_none,
            lost.to_string(),
            r.speculation_store_bypass.as_deref().unwrap_or("-")
        );
    }
    if let Some(r) = rows.first() {
        println!(
            "(p50, p99: medians over {} interleaved rounds of each round's hdr percentile; lost: \
             the median of the rounds' p50 differences to none, with their range)",
            r.rounds
        );
    }
    if !commands.is_empty() {
        println!(
            "\n{:<28} {:>10} {:>10} {:>7}   command: {}",
            "SETUP",
            "MIN_S",
            "MEDIAN_S",
            "xNONE",
            args.command.join(" ")
        );
        for c in &commands {
            println!(
                "{:<28} {:>10.4} {:>10.4} {:>7.3}",
                c.setup, c.min_s, c.median_s, c.vs_none
            );
        }
    }
    page
}

/// The child: install the filters from `path`, run the workload, print JSON.
pub fn child(w: Workload, iterations: u64, path: &std::path::Path) -> Result<()> {
    let filters = filter::decode(&std::fs::read(path)?)?;
    let t = super::workload::run(w, iterations, &filters)?;
    let ssb = node::proc_status_field(std::process::id(), "Speculation_Store_Bypass");
    println!("{}", serde_json::json!({"timing": t, "ssb": ssb}));
    Ok(())
}

/// The command runner: install the filters, then exec the command.
pub fn exec(path: &std::path::Path, command: &[String]) -> Result<()> {
    use std::os::unix::process::CommandExt as _;
    let filters = filter::decode(&std::fs::read(path)?)?;
    let Some((prog, rest)) = command.split_first() else {
        bail!("no command")
    };
    for f in &filters {
        filter::install(f)?;
    }
    let err = Command::new(prog).args(rest).exec();
    bail!("exec {prog}: {err}")
}
