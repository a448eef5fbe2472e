//! Idempotent installation of everything ctrace's build and tests need on a fresh machine.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::{Context as _, Result, bail};

use crate::status;

const NIGHTLY: &str = "nightly";

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

fn quiet_ok(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

pub fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn nightly_sysroot() -> Result<PathBuf> {
    let s = output(Command::new("rustc").args([&format!("+{NIGHTLY}"), "--print", "sysroot"]))
        .context("the nightly toolchain is needed to build the eBPF probes (rustup toolchain install nightly)")?;
    Ok(PathBuf::from(s))
}

fn has_rust_src(sysroot: &Path) -> bool {
    sysroot.join("lib/rustlib/src/rust/library/core").is_dir()
}

fn bpf_linker_works() -> bool {
    quiet_ok(Command::new("bpf-linker").arg("--version"))
}

/// Runs the full setup only when a piece is missing, so build/test/run stay fast.
pub fn toolchain_if_missing() -> Result<()> {
    let sysroot = nightly_sysroot()?;
    if has_rust_src(&sysroot) && bpf_linker_works() {
        return Ok(());
    }
    toolchain()
}

pub fn toolchain() -> Result<()> {
    let sysroot = nightly_sysroot()?;
    if has_rust_src(&sysroot) {
        println!("setup: rust-src for {NIGHTLY}: present");
    } else {
        println!("setup: installing rust-src for {NIGHTLY}");
        status(Command::new("rustup").args([
            "component",
            "add",
            "rust-src",
            "--toolchain",
            NIGHTLY,
        ]))?;
    }
    if bpf_linker_works() {
        println!("setup: bpf-linker: present");
        return Ok(());
    }
    install_bpf_linker(&sysroot)
}

/// bpf-linker must link against the same LLVM as rustc's nightly. The sysroot ships it as
/// `libLLVM.so.<ver>-rust-<ver>` plus a linker script; a prefix folder with plain symlinks to the
/// real library lets llvm-sys find it, and stays put as the binary's rpath.
fn install_bpf_linker(sysroot: &Path) -> Result<()> {
    let lib = sysroot.join("lib");
    let real = std::fs::read_dir(&lib)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with("libLLVM.so.") && n.contains("-rust-"))
        .with_context(|| format!("no libLLVM.so.* in {}", lib.display()))?;
    let major = real
        .trim_start_matches("libLLVM.so.")
        .split('.')
        .next()
        .unwrap_or("")
        .to_string();
    let cargo_home = std::env::var("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or("/root".into())).join(".cargo")
        });
    let prefix = cargo_home.join("ctrace-llvm");
    let plib = prefix.join("lib");
    std::fs::create_dir_all(&plib)?;
    for name in ["libLLVM.so", real.as_str()] {
        let link = plib.join(name);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(lib.join(&real), &link)
            .with_context(|| format!("linking {}", link.display()))?;
    }
    println!("setup: building bpf-linker against rustc's LLVM {major} (a few minutes)");
    status(
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args([
                "install",
                "bpf-linker",
                "--locked",
                "--no-default-features",
                "--features",
            ])
            .arg(format!("llvm-{major}"))
            .env("LLVM_PREFIX", &prefix),
    )?;
    if !bpf_linker_works() {
        bail!("bpf-linker was installed but does not run; is ~/.cargo/bin on PATH?");
    }
    Ok(())
}

fn apt_install(what: &str, packages: &[&str]) -> Result<()> {
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|pkg| {
            let out = Command::new("dpkg-query")
                .args(["-W", "-f=${Status}", pkg])
                .output();
            !out.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).ends_with("install ok installed"))
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    println!("setup: installing {what}: {}", missing.join(" "));
    status(Command::new("apt-get").args(["update", "-q"]))?;
    status(
        Command::new("apt-get")
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}

/// C libraries ctrace links: libseccomp compiles the seccomp profiles. Debian's moby sources
/// carry Docker's own default seccomp profile (profiles/seccomp/default.json), the one
/// `bench seccomp` measures as docker-default.
pub fn build_packages() -> Result<()> {
    apt_install(
        "build dependencies",
        &[
            "libseccomp-dev",
            "pkg-config",
            "golang-github-docker-docker-dev",
        ],
    )
}

/// The Docker engine and a static busybox for the offline test image; a second containerd and
/// podman for the runtime-naming tests; Prometheus scrapes `ctrace serve` in its test; headless
/// Chromium loads the HTML report in its; tmux is the terminal of the live view's tests; Go
/// builds the sigpipe tests' Go program; bpftrace counts a SIGPIPE storm beside ctrace; openssl
/// makes serve's TLS test certificates and curl is its client.
pub fn test_packages() -> Result<()> {
    apt_install(
        "test dependencies",
        &[
            "docker.io",
            "busybox-static",
            "prometheus",
            "chromium",
            "containerd",
            "runc",
            "podman",
            "tmux",
            "golang-go",
            "bpftrace",
            "openssl",
            "curl",
        ],
    )
}

/// bpftrace is the reference the overhead benchmark compares against.
pub fn bench_packages() -> Result<()> {
    apt_install("benchmark dependencies", &["bpftrace"])
}

/// QEMU, a static busybox for the initramfs, xz for the 6.12 modules, depmod for their order.
pub fn vm_packages() -> Result<()> {
    apt_install(
        "VM test dependencies",
        &["qemu-system-x86", "busybox-static", "xz-utils", "kmod"],
    )
}
