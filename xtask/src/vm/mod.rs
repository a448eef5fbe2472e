//! `cargo xtask vm-test`: boots Debian kernels under QEMU (TCG), runs ctrace's root integration
//! tests inside them against the host's own build (shared read-only over 9p), and prints a
//! pass/fail table by kernel, tier and problem.

mod initramfs;
mod kernels;
mod libtest;
pub mod plan;
mod report;
mod taint;

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};

use crate::{cargo, setup};

/// TCG is slow: one kernel's whole run must still end within this. A full 6.12 run takes about
/// 48 minutes on two vCPUs of one TCG thread; with the host suite (about 20) CI stays within its
/// 90 minutes.
const VM_TIMEOUT: Duration = Duration::from_secs(60 * 60);

/// Writable scratch in the VM: the host's /tmp stays visible (read-only, like the rest of the
/// root, since the checkout may live there), and /run is a tmpfs.
const SCRATCH: &str = "/run/ctrace-tmp";

/// Mounts the scratch at `at`: ext4 on a loop device, from a sparse file in /run, since
/// overlay's tests need an upper layer with a birth time, which tmpfs lacks on 5.10 (and
/// container hosts' layers sit on a disk filesystem). 256-byte inodes hold the birth time;
/// without metadata_csum a missing crc32c driver cannot stop it; `discard` gives deleted
/// blocks back to /run. Falls back to tmpfs, saying so.
fn scratch_fs(at: &str) -> String {
    let img = "/run/ctrace-scratch.img";
    format!(
        "export PATH=/usr/sbin:/usr/bin:/sbin:/bin\nmkdir -p {at}\n\
         if ! (truncate -s 768M {img} && mkfs.ext4 -q -F -I 256 -O ^metadata_csum {img} && \\\n\
         mount -o loop,discard {img} {at}); then\n\
         echo \"vm: no ext4 scratch, tmpfs on {at} instead\"; mount -t tmpfs scratch {at}\nfi\n"
    )
}

/// One test binary's limit inside the VM: a hang becomes a failure, not a stalled VM.
const BINARY_TIMEOUT_S: u32 = 900;

/// A test binary of the `tests` crate: its target name and executable.
pub struct TestBinary {
    pub name: String,
    pub path: PathBuf,
}

/// Builds the integration tests without running them and lists their executables.
fn test_binaries() -> Result<Vec<TestBinary>> {
    let out = cargo()
        .args([
            "test",
            "--package",
            "tests",
            "--no-run",
            "--message-format=json",
        ])
        .stderr(Stdio::inherit())
        .output()?;
    if !out.status.success() {
        bail!("building the integration tests failed");
    }
    let mut bins = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let is_test = v["target"]["kind"]
            .as_array()
            .is_some_and(|k| k.iter().any(|k| k == "test"));
        if let (true, Some(exe)) = (is_test, v["executable"].as_str()) {
            bins.push(TestBinary {
                name: v["target"]["name"].as_str().unwrap_or("?").to_string(),
                path: exe.into(),
            });
        }
    }
    bins.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(bins)
}

fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The script the VM runs in the chroot: doctor, then each test binary once with the best tier
/// and, for the problems that have a kernel tier, once more forced to tracepoints.
/// Which binaries a kernel's VM runs in each tier's pass.
#[derive(Clone, Copy)]
pub struct Plan<'a> {
    pub kernel: &'a str,
    pub ci: bool,
}

impl Plan<'_> {
    /// Whether `binary` runs in `tier`'s pass (`auto`, or `tracepoint` for tiered problems).
    pub fn runs(&self, binary: &str, tier: &str) -> bool {
        let problem = plan::problem(binary);
        (tier == "auto" || plan::TIERED.contains(&problem))
            && plan::runs_on(binary, self.kernel, tier, self.ci)
    }
}

fn script(out: &Path, ctrace: &Path, bins: &[TestBinary], here: Plan) -> String {
    let root = setup::workspace_root();
    let o = sh_quote(&out.display().to_string());
    let mut s = scratch_fs(SCRATCH);
    // No residual calibration for --sampled: under emulation its twins measure no real CPU's
    // costs, and each boot would pay for it again (the host's root, and its cache, are
    // read-only here).
    s += &format!(
        "cd {}\nexport CI=true CTRACE_BIN={} TMPDIR={SCRATCH} CTRACE_SCRATCH={SCRATCH} HOME={SCRATCH} RUST_BACKTRACE=1\n\
         export CTRACE_SECCOMP_RESIDUAL=off\n\
         export CTRACE_MEASURE_LOG={o}/measured.txt\n{verbose}\
         export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n\
         uname -r > {o}/uname\n\
         {before}$CTRACE_BIN doctor > {o}/doctor.txt 2>&1\n",
        sh_quote(&root.display().to_string()),
        sh_quote(&ctrace.display().to_string()),
        before = taint::snapshot(out, "before"),
        // The tests' switch for ctrace's debug log (tests/src/lib.rs), passed through.
        verbose = match std::env::var_os("CTRACE_TEST_VERBOSE") {
            Some(_) => "export CTRACE_TEST_VERBOSE=1\n",
            None => "",
        },
    );
    for tier in ["auto", "tracepoint"] {
        for b in bins {
            if !here.runs(&b.name, tier) {
                continue;
            }
            let skips: String = plan::skips(&b.name, tier)
                .iter()
                .map(|t| format!(" --skip {t}"))
                .collect();
            let log = format!("{o}/{tier}.{}", b.name);
            s += &format!(
                "echo \"vm: {tier} {name}\"\nCTRACE_TIER={tier} timeout -k 10 {BINARY_TIMEOUT_S} {exe} --test-threads=1{skips} > {log}.log 2>&1\necho $? > {log}.rc\n",
                name = b.name,
                exe = sh_quote(&b.path.display().to_string()),
            );
        }
    }
    s += &taint::snapshot(out, "after");
    s += &format!("echo done > {o}/done\n");
    s
}

/// Boots `kernel` with `initrd` and waits for the script to finish (or the timeout).
fn boot(kernel: &kernels::Kernel, initrd: &Path, out: &Path) -> Result<()> {
    let console = fs::File::create(out.join("console.log"))?;
    let mut child = Command::new("qemu-system-x86_64")
        // Two vCPUs on one host thread: multi-threaded TCG runs faster but breaks the kernel's
        // live text patching (an fentry attach oopsed in __secure_computing on int3).
        .args([
            "-accel",
            "tcg,thread=single",
            "-cpu",
            "max",
            "-m",
            "2048",
            "-smp",
            "2",
        ])
        .args(["-nographic", "-no-reboot"])
        .arg("-kernel")
        .arg(kernel.vmlinuz())
        .arg("-initrd")
        .arg(initrd)
        .arg("-append")
        .arg(format!(
            "console=ttyS0 quiet loglevel=3 panic=-1 rdinit=/init ctrace_out={}",
            out.display()
        ))
        .arg("-virtfs")
        .arg(format!(
            "local,path=/,mount_tag={},security_model=none,readonly=on,multidevs=remap",
            initramfs::HOST_TAG
        ))
        .arg("-virtfs")
        .arg(format!(
            "local,path={},mount_tag={},security_model=none,multidevs=remap",
            out.display(),
            initramfs::OUT_TAG
        ))
        .stdin(Stdio::null())
        .stdout(console.try_clone()?)
        .stderr(console)
        .spawn()
        .context("starting qemu-system-x86_64")?;
    let deadline = Instant::now() + VM_TIMEOUT;
    loop {
        if let Some(st) = child.try_wait()? {
            if !st.success() {
                bail!("qemu exited with {st}");
            }
            return Ok(());
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "the VM did not finish within {} min",
                VM_TIMEOUT.as_secs() / 60
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Mounts a writable scratch on /tmp in the VM; a checkout under /tmp is bound back over it.
fn tmp_scratch(root: &Path) -> String {
    let r = sh_quote(&root.display().to_string());
    format!(
        "mkdir -p /run/ctrace-ckout && mount --rbind {r} /run/ctrace-ckout\n\
         {scratch}\
         case {r} in /tmp/*) mkdir -p {r} && mount --rbind /run/ctrace-ckout {r};; esac\n",
        scratch = scratch_fs("/tmp"),
    )
}

/// `cargo xtask vm-run --kernel K -- CMD...`: one command in the VM as root, from the
/// checkout's root, with the host-built `ctrace` first on PATH; its output and exit status.
pub fn run_command(which: &str, ctrace: &Path, cmd: &[String]) -> Result<i32> {
    setup::vm_packages()?;
    let k = kernels::fetch(which)?;
    let out = setup::workspace_root().join("target/vm/cmd").join(&k.name);
    let _ = fs::remove_dir_all(&out);
    fs::create_dir_all(&out)?;
    let root = setup::workspace_root();
    let o = sh_quote(&out.display().to_string());
    let bin_dir = ctrace.parent().context("ctrace has no folder")?;
    let line: Vec<String> = cmd.iter().map(|a| sh_quote(a)).collect();
    let script = format!(
        "{tmp}{before}cd {root}\nexport HOME=/tmp PATH={bin}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n\
         {line} > {o}/stdout 2> {o}/stderr\necho $? > {o}/rc\n{after}echo done > {o}/done\n",
        tmp = tmp_scratch(&root),
        before = taint::snapshot(&out, "before"),
        after = taint::snapshot(&out, "after"),
        root = sh_quote(&root.display().to_string()),
        bin = sh_quote(&bin_dir.display().to_string()),
        line = line.join(" "),
    );
    let initrd = k.dir.join("initramfs.cpio");
    initramfs::build(&k, &initrd)?;
    fs::write(out.join("script.sh"), script)?;
    eprintln!("vm-run: booting {} ({})", k.name, k.package);
    boot(&k, &initrd, &out)?;
    let read = |f: &str| fs::read(out.join(f)).unwrap_or_default();
    use std::io::Write as _;
    std::io::stdout().write_all(&read("stdout"))?;
    std::io::stderr().write_all(&read("stderr"))?;
    if read("done").is_empty() {
        bail!(
            "the VM did not finish the command (console: {})",
            out.join("console.log").display()
        );
    }
    let news = taint::news(&out);
    if !news.is_empty() {
        bail!(
            "the kernel warned or was tainted during the command:\n{}",
            news.join("\n")
        );
    }
    let rc = String::from_utf8_lossy(&read("rc"))
        .trim()
        .parse()
        .unwrap_or(1);
    Ok(rc)
}

/// Runs the matrix on `which` (one of `kernels::KNOWN`, a comma-separated list of them, or
/// "all"); fails when any test failed.
pub fn run(which: &str, ctrace: &Path, only: &[String], ci: bool) -> Result<()> {
    setup::vm_packages()?;
    // The VM runs the host's root: what the tests install (prometheus...) must be there.
    setup::test_packages()?;
    let names: Vec<&str> = match which {
        "all" => kernels::KNOWN.to_vec(),
        k => k.split(',').collect(),
    };
    let kernels = names
        .iter()
        .map(|n| kernels::fetch(n))
        .collect::<Result<Vec<_>>>()?;
    let mut bins = test_binaries()?;
    if !only.is_empty() {
        if let Some(o) = only.iter().find(|o| !bins.iter().any(|b| &&b.name == o)) {
            bail!("--only {o}: no such test binary");
        }
        bins.retain(|b| only.contains(&b.name));
    }
    // The kernels boot side by side: each VM is one host thread (TCG), so on this 2-CPU
    // machine three of them take about half again as long as one, not three times.
    let mut runs = Vec::new();
    for k in &kernels {
        let out = setup::workspace_root().join("target/vm/run").join(&k.name);
        let _ = fs::remove_dir_all(&out);
        fs::create_dir_all(&out)?;
        let initrd = k.dir.join("initramfs.cpio");
        initramfs::build(k, &initrd)?;
        let here = Plan {
            kernel: &k.name,
            ci,
        };
        fs::write(out.join("script.sh"), script(&out, ctrace, &bins, here))?;
        println!("vm-test: booting {} ({})", k.name, k.package);
        runs.push((out, initrd));
    }
    let booted: Vec<(Result<()>, f64)> = std::thread::scope(|s| {
        let handles: Vec<_> = kernels
            .iter()
            .zip(&runs)
            .map(|(k, (out, initrd))| {
                s.spawn(move || {
                    let started = Instant::now();
                    let r = boot(k, initrd, out);
                    let secs = started.elapsed().as_secs_f64();
                    println!("vm-test: {} finished in {secs:.0} s", k.name);
                    (r, secs)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| (Err(anyhow::anyhow!("the VM thread panicked")), 0.0))
            })
            .collect()
    });
    let results: Vec<_> = kernels
        .iter()
        .zip(runs.iter().zip(booted))
        .map(|(k, ((out, _), (r, secs)))| {
            let here = Plan {
                kernel: &k.name,
                ci,
            };
            report::collect(k, out, &bins, here, r.err(), secs)
        })
        .collect();
    let table = report::render(&results, ci);
    print!("{table}");
    fs::write(setup::workspace_root().join("target/vm/matrix.md"), &table)?;
    let failed: usize = results.iter().map(report::KernelResult::failures).sum();
    if failed > 0 {
        bail!("vm-test: {failed} failures (logs under target/vm/run/)");
    }
    Ok(())
}
