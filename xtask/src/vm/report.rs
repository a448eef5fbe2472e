//! Results of one kernel's run, read back from the logs the VM wrote, and the table.

use std::{fmt::Write as _, fs, path::Path};

use super::{TestBinary, kernels::Kernel, libtest, plan};

pub struct TestResult {
    pub tier: &'static str,
    pub problem: &'static str,
    pub name: String,
    pub passed: bool,
}

pub struct KernelResult {
    pub kernel: String,
    pub release: String,
    pub secs: f64,
    pub tests: Vec<TestResult>,
    /// Doctor's tier lines: (problem, what it chose).
    pub tiers: Vec<(String, String)>,
    /// Whole-run problems: a failed boot, a binary that died without a verdict.
    pub errors: Vec<String>,
    /// What the tests measured on the way (both tiers' answers side by side).
    pub measured: Vec<String>,
}

impl KernelResult {
    pub fn failures(&self) -> usize {
        self.tests.iter().filter(|t| !t.passed).count() + self.errors.len()
    }
}

pub fn collect(
    k: &Kernel,
    out: &Path,
    bins: &[TestBinary],
    here: super::Plan,
    boot_error: Option<anyhow::Error>,
    secs: f64,
) -> KernelResult {
    let read = |f: &str| fs::read_to_string(out.join(f)).unwrap_or_default();
    let mut r = KernelResult {
        kernel: k.name.clone(),
        release: read("uname").trim().to_string(),
        secs,
        tests: Vec::new(),
        tiers: read("doctor.txt")
            .lines()
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                let (_, name) = (w.next()?, w.next()?);
                let problem = name.strip_prefix("tier:")?;
                Some((problem.to_string(), w.next()?.to_string()))
            })
            .collect(),
        errors: boot_error.map(|e| format!("{e:#}")).into_iter().collect(),
        measured: read("measured.txt").lines().map(str::to_string).collect(),
    };
    if read("done").is_empty() {
        r.errors.push(format!(
            "the VM script did not finish (see {})",
            out.join("console.log").display()
        ));
    } else {
        r.errors.extend(super::taint::news(out));
    }
    for tier in ["auto", "tracepoint"] {
        for b in bins {
            let problem = plan::problem(&b.name);
            if !here.runs(&b.name, tier) {
                continue;
            }
            let log = read(&format!("{tier}.{}.log", b.name));
            let rc = read(&format!("{tier}.{}.rc", b.name));
            let before = r.tests.len();
            for (name, passed) in libtest::results(&log) {
                r.tests.push(TestResult {
                    tier,
                    problem,
                    name: format!("{}::{name}", b.name),
                    passed,
                });
            }
            let failed_here = r.tests[before..].iter().any(|t| !t.passed);
            match rc.trim() {
                "0" | "" => {}
                "124" | "137" => r.errors.push(format!("{tier} {}: timed out", b.name)),
                rc if !failed_here => r.errors.push(format!(
                    "{tier} {}: exited {rc} with no failed test",
                    b.name
                )),
                _ => {}
            }
        }
    }
    r
}

pub fn render(results: &[KernelResult], ci: bool) -> String {
    let mut s = String::new();
    for r in results {
        let _ = writeln!(
            s,
            "\nkernel {} ({}), {:.0} s in the VM",
            r.kernel, r.release, r.secs
        );
        let _ = write!(s, "  {:<11}", "tier");
        for p in plan::PROBLEMS {
            let _ = write!(s, " {p:>8}");
        }
        s.push('\n');
        for tier in ["auto", "tracepoint"] {
            let _ = write!(s, "  {tier:<11}");
            for p in plan::PROBLEMS {
                let of: Vec<&TestResult> = r
                    .tests
                    .iter()
                    .filter(|t| t.tier == tier && t.problem == p)
                    .collect();
                let cell = if of.is_empty() {
                    "-".to_string()
                } else {
                    let ok = of.iter().filter(|t| t.passed).count();
                    let mark = if ok == of.len() { "" } else { "!" };
                    format!("{mark}{ok}/{}", of.len())
                };
                let _ = write!(s, " {cell:>8}");
            }
            s.push('\n');
        }
        if !r.tiers.is_empty() {
            let chosen: Vec<String> = r.tiers.iter().map(|(p, t)| format!("{p}={t}")).collect();
            let _ = writeln!(s, "  tiers chosen (auto): {}", chosen.join(" "));
        }
        for m in &r.measured {
            let _ = writeln!(s, "  measured {m}");
        }
        for t in r.tests.iter().filter(|t| !t.passed) {
            let _ = writeln!(s, "  FAILED [{}] {}", t.tier, t.name);
        }
        for e in &r.errors {
            let _ = writeln!(s, "  ERROR {e}");
        }
    }
    let _ = writeln!(s, "\nnot run in the VM:");
    for (bin, test, why) in plan::NOT_RUN {
        let _ = writeln!(s, "  {bin}::{test}: {why}");
    }
    if ci {
        let _ = writeln!(
            s,
            "\nCI's matrix: {} runs every binary; the other kernels run {} (tracepoint pass: {}), so that three VMs side by side stay within CI's time",
            plan::FULL_KERNEL,
            plan::CI_OTHER_KERNELS.join(", "),
            plan::CI_OTHER_KERNELS_TRACEPOINT.join(", ")
        );
    }
    let _ = writeln!(
        s,
        "run in the automatic pass only (they force their own tiers):"
    );
    for (bin, test) in plan::ONCE {
        let _ = writeln!(s, "  {bin}::{test}");
    }
    let passed: usize = results
        .iter()
        .map(|r| r.tests.iter().filter(|t| t.passed).count())
        .sum();
    let failed: usize = results.iter().map(KernelResult::failures).sum();
    let _ = writeln!(s, "vm-test: {passed} passed, {failed} failed");
    s
}
