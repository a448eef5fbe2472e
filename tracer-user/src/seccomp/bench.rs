//! `ctrace bench seccomp`: the same workloads under several filter setups, side by side.

use std::{path::PathBuf, process::Command, time::Instant};

use anyhow::{Context as _, Result, bail};
use serde::Serialize;

use super::{
    filter,
    profile::{self, DOCKER_DEFAULT},
    workload::{Timing, Workload},
};
use crate::{cli::BenchSeccompArgs, node};

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

pub fn setups(args: &BenchSeccompArgs) -> Result<Vec<Setup>> {
    let mut out = vec![Setup {
        name: "none".into(),
        filters: vec![],
    }];
    let default = profile::compile(&profile::parse(DOCKER_DEFAULT, "docker-default")?)?;
    out.push(Setup {
        name: "docker-default".into(),
        filters: vec![default],
    });
    for path in &args.profiles {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let p = profile::parse(&text, &path.display().to_string())?;
        let bpf = profile::compile(&p).with_context(|| format!("{}", path.display()))?;
        out.push(Setup {
            name: path
                .file_name()
                .map_or("profile".into(), |n| n.to_string_lossy().into_owned()),
            filters: vec![bpf],
        });
    }
    for &pid in &args.pids {
        let filters = filter::filters_of(pid)?;
        let comm = node::proc_comm(pid).unwrap_or_default();
        out.push(Setup {
            name: format!("pid {pid} ({comm})"),
            filters,
        });
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
    let out = Command::new(std::env::current_exe()?)
        .args([
            "__seccomp-child",
            "--workload",
            w.name(),
            "--iterations",
            &iterations.to_string(),
            "--filters",
        ])
        .arg(&file.0)
        .output()?;
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
    ns_per_op: f64,
    p50_ns: u64,
    p99_ns: u64,
    max_ns: u64,
    vs_none: f64,
    lost_ns_per_syscall: f64,
    speculation_store_bypass: Option<String>,
}

#[derive(Serialize)]
struct CommandRow {
    setup: String,
    min_s: f64,
    median_s: f64,
    vs_none: f64,
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn time_command(cmd: &mut Command) -> Result<f64> {
    let t = Instant::now();
    let st = cmd.stdout(std::process::Stdio::null()).status()?;
    if !st.success() {
        bail!("{cmd:?} failed ({st})");
    }
    Ok(t.elapsed().as_secs_f64())
}

/// Warm-up once, then `runs` timed runs: (min, median) in seconds.
fn repeat(runs: usize, mut make: impl FnMut() -> Command) -> Result<(f64, f64)> {
    time_command(&mut make())?;
    let mut v = Vec::new();
    for _ in 0..runs.max(1) {
        v.push(time_command(&mut make())?);
    }
    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
    Ok((min, median(&mut v)))
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

pub fn run(args: &BenchSeccompArgs) -> Result<()> {
    node::require_root()?;
    let setups = setups(args)?;
    let workloads: Vec<Workload> = if args.workloads.is_empty() {
        Workload::ALL.to_vec()
    } else {
        args.workloads.clone()
    };
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
                runs[i].push(measure(w, iterations, &s.filters)?);
            }
        }
        let picked: Vec<(Timing, Option<String>)> = runs
            .into_iter()
            .map(|mut r| {
                r.sort_by(|a, b| a.0.ns_per_op.total_cmp(&b.0.ns_per_op));
                r[r.len() / 2].clone()
            })
            .collect();
        let none = picked[0].0.ns_per_op;
        for (s, (t, ssb)) in setups.iter().zip(picked) {
            rows.push(Row {
                workload: w.name(),
                setup: s.name.clone(),
                ns_per_op: t.ns_per_op,
                p50_ns: t.p50_ns,
                p99_ns: t.p99_ns,
                max_ns: t.max_ns,
                vs_none: t.ns_per_op / none,
                lost_ns_per_syscall: (t.ns_per_op - none) / w.syscalls(),
                speculation_store_bypass: ssb,
            });
        }
    }
    let mut commands = Vec::new();
    if !args.command.is_empty() && args.docker.is_none() {
        let mut none = 0.0;
        for s in &setups {
            let file = FilterFile::new(&s.filters)?;
            let exe = std::env::current_exe()?;
            let (min, med) = repeat(args.runs, || {
                let mut c = Command::new(&exe);
                c.args(["__seccomp-exec", "--filters"])
                    .arg(&file.0)
                    .arg("--")
                    .args(&args.command);
                c
            })?;
            if s.filters.is_empty() {
                none = med;
            }
            commands.push(CommandRow {
                setup: s.name.clone(),
                min_s: min,
                median_s: med,
                vs_none: med / none,
            });
        }
    }
    if let Some(image) = &args.docker {
        if args.command.is_empty() {
            bail!(
                "--docker IMAGE needs a command: ctrace bench seccomp --docker IMAGE -- CMD ARGS"
            );
        }
        let mut none = 0.0;
        for (name, opt) in [
            ("docker unconfined", Some("seccomp=unconfined")),
            ("docker default profile", None),
        ] {
            let (min, med) = repeat(args.runs, || {
                let mut c = Command::new("docker");
                c.args(["run", "--rm", "--network", "none"]);
                if let Some(o) = opt {
                    c.args(["--security-opt", o]);
                }
                c.arg(image).args(&args.command);
                c
            })?;
            if opt.is_some() {
                none = med;
            }
            commands.push(CommandRow {
                setup: name.into(),
                min_s: min,
                median_s: med,
                vs_none: med / none,
            });
        }
    }
    let facts = node_facts();
    crate::html::hook(args.html.as_deref(), 0, || {
        Ok(
            serde_json::json!({"node": facts, "setups": setups.iter().map(|s| serde_json::json!({"name": s.name, "instructions": s.instructions()})).collect::<Vec<_>>(), "results": rows, "command": commands}),
        )
    })?;
    if args.json {
        let setups_json: Vec<serde_json::Value> = setups
            .iter()
            .map(|s| serde_json::json!({"name": s.name, "filters": s.filters.len(), "instructions": s.instructions()}))
            .collect();
        let doc = serde_json::json!({"node": facts, "setups": setups_json, "results": rows, "command": commands});
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    println!(
        "kernel {}; seccomp action cache: {}; spec_store_bypass: {}",
        facts["kernel"].as_str().unwrap_or("?"),
        if facts["action_cache"] == true {
            "yes (5.11+: allowed syscalls without argument checks skip the filter)"
        } else {
            "no (before 5.11)"
        },
        facts["spec_store_bypass"].as_str().unwrap_or("?")
    );
    for s in &setups {
        println!(
            "  setup {:<28} {} filter(s), {} BPF instructions",
            s.name,
            s.filters.len(),
            s.instructions()
        );
    }
    println!(
        "\n{:<11} {:<28} {:>9} {:>7} {:>7} {:>9} {:>7} {:>10}  SSB under filter",
        "WORKLOAD", "SETUP", "NS/OP", "P50", "P99", "MAX", "xNONE", "LOST/CALL"
    );
    for r in &rows {
        println!(
            "{:<11} {:<28} {:>9.1} {:>7} {:>7} {:>9} {:>7.2} {:>10.1}  {}",
            r.workload,
            r.setup,
            r.ns_per_op,
            r.p50_ns,
            r.p99_ns,
            r.max_ns,
            r.vs_none,
            r.lost_ns_per_syscall,
            r.speculation_store_bypass.as_deref().unwrap_or("-")
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
    Ok(())
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
