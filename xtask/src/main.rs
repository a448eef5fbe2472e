//! Developer tasks: `cargo xtask setup|build|run|test|lint|bench|vm-test|vm-run`. Each one installs what it lacks.

mod cycles;
mod setup;
mod vm;

use std::process::{Command, ExitCode};

use anyhow::{Context as _, Result, bail};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "xtask")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Install what a fresh machine lacks (idempotent): rust-src for nightly, bpf-linker.
    Setup,
    /// Build ctrace (probes included).
    Build {
        #[arg(long)]
        release: bool,
    },
    /// Build and run ctrace as root with the given arguments.
    Run {
        #[arg(long)]
        release: bool,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Unit tests and root integration tests against the real kernel (and Docker).
    Test {
        /// Extra arguments for `cargo test` (e.g. a test name filter).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// rustfmt --check and clippy -D warnings over the workspace; no import circles between a
    /// crate's top-level modules, and no problem importing another.
    Lint,
    /// The integration tests inside Debian kernels under QEMU: a pass/fail table by kernel,
    /// tier and problem.
    VmTest {
        /// 5.10, 6.1, 6.12, a comma-separated list of them, or all (side by side).
        #[arg(long, default_value = "all")]
        kernel: String,
        /// Only these test binaries (comma-separated names, e.g. `html,live`): for iterating
        /// on a failure; CI runs them all.
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
        /// CI's matrix: kernel-independent binaries (output, HTTP, pages) on 6.12 only.
        #[arg(long)]
        ci: bool,
    },
    /// One command in a Debian kernel under QEMU, as root, from the checkout's root, with the
    /// host-built `ctrace` first on PATH and a tmpfs on /tmp: its output and exit status. Fails
    /// when the kernel warned or was tainted meanwhile.
    VmRun {
        /// 5.10, 6.1 or 6.12.
        #[arg(long)]
        kernel: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        cmd: Vec<String>,
    },
    /// Benchmarks: `bench overhead` (side-by-side ratios, exit storm), `bench seccomp`, `bench
    /// agent` (serve's latency, idle CPU and /metrics targets), and
    /// `bench soak [--secs N]` (serve under churn: RSS, CPU, drops, evictions).
    Bench {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `--sampled`'s residual is calibrated once per kernel and CPU (about 15 s of twins, more in
/// a debug build) and cached: done here, before the tests, so that no test that waits for
/// ctrace's `attached` line waits for a calibration instead. Best effort: the tests don't
/// need it, and without root ctrace refuses at once.
fn warm_seccomp_residual(bin: &std::path::Path) {
    let ran = Command::new(bin)
        .args([
            "trace",
            "seccomp",
            "--sampled",
            "--duration",
            "1s",
            "--json",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    if !ran.is_ok_and(|s| s.success()) {
        eprintln!("xtask: the seccomp residual's calibration did not run (tests go on without it)");
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.cmd {
        Cmd::Setup => setup::toolchain().and_then(|()| setup::build_packages()),
        Cmd::Build { release } => build(release).map(|_| ()),
        Cmd::Run { release, args } => {
            let bin = build(release)?;
            status(Command::new(bin).args(args))
        }
        Cmd::Test { args } => {
            let bin = build(false)?;
            setup::test_packages()?;
            warm_seccomp_residual(&bin);
            let mut cmd = cargo();
            cmd.arg("test").args(&args).env("CTRACE_BIN", &bin);
            status(&mut cmd)
        }
        Cmd::Lint => {
            setup::toolchain_if_missing()?;
            setup::build_packages()?;
            status(cargo().args(["fmt", "--all", "--", "--check"]))?;
            status(cargo().args(["clippy", "--all-targets", "--", "-D", "warnings"]))?;
            // The problems' folders of each side (vm-test's table names them too).
            let problems = &vm::plan::PROBLEMS[1..];
            for krate in ["tracer-user", "tracer-ebpf", "tracer-common"] {
                cycles::check(&setup::workspace_root().join(krate).join("src"), problems)?;
            }
            Ok(())
        }
        Cmd::VmTest { kernel, only, ci } => {
            let bin = build(false)?;
            vm::run(&kernel, &bin, &only, ci)
        }
        Cmd::VmRun { kernel, cmd } => {
            let bin = build(false)?;
            let rc = vm::run_command(&kernel, &bin, &cmd)?;
            if rc != 0 {
                std::process::exit(rc);
            }
            Ok(())
        }
        Cmd::Bench { args } if args.first().is_some_and(|a| a == "soak") => {
            let secs = match args.get(1..) {
                Some([flag, n]) if flag == "--secs" => n.clone(),
                Some([]) | None => "600".into(),
                _ => bail!("usage: cargo xtask bench soak [--secs N]"),
            };
            let bin = build(true)?;
            setup::test_packages()?;
            let mut cmd = cargo();
            cmd.args(["test", "--package", "tests", "--test", "soak", "--"])
                .args(["--ignored", "--nocapture"])
                .env("CTRACE_BIN", &bin)
                .env("SOAK_SECS", secs);
            status(&mut cmd)
        }
        Cmd::Bench { args } => {
            let bin = build(true)?;
            setup::bench_packages()?;
            status(Command::new(bin).arg("bench").args(args))
        }
    }
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn status(cmd: &mut Command) -> Result<()> {
    let st = cmd.status().with_context(|| format!("running {cmd:?}"))?;
    if !st.success() {
        bail!("{cmd:?} failed ({st})");
    }
    Ok(())
}

/// Builds ctrace and returns the binary's path.
fn build(release: bool) -> Result<std::path::PathBuf> {
    setup::toolchain_if_missing()?;
    setup::build_packages()?;
    let mut cmd = cargo();
    cmd.args(["build", "--package", "tracer-user", "--bin", "ctrace"]);
    if release {
        cmd.arg("--release");
    }
    status(&mut cmd)?;
    let root = setup::workspace_root();
    Ok(root
        .join("target")
        .join(if release { "release" } else { "debug" })
        .join("ctrace"))
}
