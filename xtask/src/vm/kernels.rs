//! Debian kernels for the VM matrix: found through apt, unpacked once under target/vm/kernels/,
//! pruned to the image and the few modules the VM loads.

use std::{
    collections::HashMap,
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, Result, bail};

use crate::{
    setup::{output, workspace_root},
    status,
};

/// The kernels `vm-test` knows, by the name used on its command line.
pub const KNOWN: [&str; 3] = ["5.10", "6.1", "6.12"];

/// Debian 11's suites, where 5.10 lives: read through apt state of the project's own (under
/// target/), never the system's sources. The archive's address is the system's own.
const OLD_SUITES: [(&str, &str); 2] = [
    ("debian", "bullseye"),
    ("debian-security", "bullseye-security"),
];

/// Modules the init loads, with their dependencies first: the 9p transport for the host's
/// root, overlay for the overlay tests, sock_diag for sigpipe's socket peers, and loop and
/// ext4 (and crc32c, its soft dependency) for the scratch layer. Built-in ones
/// (virtio_pci on 6.12) are skipped.
const MODULES: [&str; 9] = [
    "virtio_pci",
    "9pnet_virtio",
    "9p",
    "overlay",
    "unix_diag",
    "tcp_diag",
    "loop",
    "crc32c_generic",
    "ext4",
];

/// A cached, pruned kernel: its image and its modules in load order.
pub struct Kernel {
    pub name: String,
    pub package: String,
    pub dir: PathBuf,
}

impl Kernel {
    pub fn vmlinuz(&self) -> PathBuf {
        self.dir.join("vmlinuz")
    }
    /// Module file names in load order (read from `modules/order`).
    pub fn modules(&self) -> Result<Vec<String>> {
        Ok(fs::read_to_string(self.dir.join("modules/order"))?
            .lines()
            .map(str::to_string)
            .collect())
    }
}

/// apt's options for the old suites: their own source list, lists and no shared cache.
fn old_apt() -> Result<Vec<String>> {
    let dir = workspace_root().join("target/vm/apt");
    let lists = dir.join("lists");
    fs::create_dir_all(lists.join("partial"))?;
    let base = system_archive()?;
    let list: String = OLD_SUITES
        .iter()
        .map(|(archive, suite)| {
            format!(
                "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] {base}/{archive} {suite} main\n"
            )
        })
        .collect();
    let sources = dir.join("sources.list");
    fs::write(&sources, list)?;
    Ok(vec![
        format!("-oDir::Etc::sourcelist={}", sources.display()),
        "-oDir::Etc::sourceparts=/nonexistent".into(),
        format!("-oDir::State::Lists={}", lists.display()),
        "-oDir::Cache::pkgcache=".into(),
        "-oDir::Cache::srcpkgcache=".into(),
    ])
}

/// The Debian mirror the system's own apt sources use (`http://host` of `http://host/debian`).
fn system_archive() -> Result<String> {
    let mut text = String::new();
    for f in [
        "/etc/apt/sources.list",
        "/etc/apt/sources.list.d/debian.sources",
    ] {
        text += &fs::read_to_string(f).unwrap_or_default();
        text.push('\n');
    }
    text.split_whitespace()
        .filter_map(|w| w.strip_suffix("/debian"))
        .find(|w| w.starts_with("http"))
        .map(str::to_string)
        .context("no Debian archive in the system's apt sources")
}

/// The newest package `apt-cache search` finds for `pattern`, by the number at `at` among the
/// name's parts split at `seps` (the ABI of 5.10.0-NN, the patch of 6.12.NN+debN).
fn newest(apt: &[String], pattern: &str, seps: &[char], at: usize) -> Result<Option<String>> {
    let found =
        output(
            Command::new("apt-cache")
                .args(apt)
                .args(["search", "--names-only", pattern]),
        )?;
    let number = |p: &str| -> u32 {
        p.split(seps)
            .nth(at)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    };
    Ok(found
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .max_by_key(|p| number(p))
        .map(str::to_string))
}

/// The newest unsigned amd64 image package of a series, from apt's lists (5.10: Debian 11's,
/// through the project's own apt state).
fn package_for(name: &str) -> Result<String> {
    let apt = if name == "5.10" {
        old_apt()?
    } else {
        Vec::new()
    };
    let find = || -> Result<Option<String>> {
        match name {
            "5.10" => newest(
                &apt,
                "^linux-image-5\\.10\\.0-[0-9]+-amd64-unsigned$",
                &['-'],
                3,
            ),
            "6.1" => {
                // The series bookworm's linux-image-amd64 meta package points at.
                let deps =
                    output(Command::new("apt-cache").args(["depends", "linux-image-amd64"]))?;
                Ok(deps
                    .lines()
                    .filter_map(|l| l.trim().strip_prefix("Depends: "))
                    .find(|p| p.starts_with("linux-image-6.1."))
                    .map(|p| format!("{p}-unsigned")))
            }
            _ => {
                let pattern = format!(
                    "^linux-image-{}\\.[0-9]+\\+deb[0-9]+-amd64-unsigned$",
                    name.replace('.', "\\.")
                );
                newest(&apt, &pattern, &['.', '+'], 2)
            }
        }
    };
    if let Some(p) = find()? {
        return Ok(p);
    }
    status(Command::new("apt-get").args(&apt).args(["update", "-q"]))?;
    find()?.with_context(|| format!("apt has no amd64 kernel package for {name}"))
}

/// `modules.dep` of an unpacked tree, as module name -> (path, dependencies' paths).
fn module_deps(root: &Path) -> Result<HashMap<String, (String, Vec<String>)>> {
    let text = fs::read_to_string(root.join("modules.dep"))?;
    let name_of = |p: &str| -> String {
        let f = p.rsplit('/').next().unwrap_or(p);
        f.split(".ko").next().unwrap_or(f).replace('-', "_")
    };
    Ok(text
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(m, deps)| {
            let deps = deps.split_whitespace().map(str::to_string).collect();
            (name_of(m), (m.to_string(), deps))
        })
        .collect())
}

/// Module paths in load order. A modules.dep line lists every transitive dependency, the one
/// to load last first, so reversed it is a load order.
fn load_order(deps: &HashMap<String, (String, Vec<String>)>) -> Vec<String> {
    let mut order: Vec<String> = Vec::new();
    for m in MODULES {
        let Some((path, mdeps)) = deps.get(m) else {
            continue; // built in
        };
        for d in mdeps.iter().rev().chain(std::iter::once(path)) {
            if !order.contains(d) {
                order.push(d.clone());
            }
        }
    }
    order
}

/// Fetches (once) and returns the kernel `name` (one of `KNOWN`).
pub fn fetch(name: &str) -> Result<Kernel> {
    if !KNOWN.contains(&name) {
        bail!("unknown kernel {name}: vm-test knows {}", KNOWN.join(", "));
    }
    let dir = workspace_root().join("target/vm/kernels").join(name);
    let stamp = dir.join("package");
    // The stamp names the package and the modules kept: a changed list fetches again.
    let wanted = MODULES.join(" ");
    if let Ok(s) = fs::read_to_string(&stamp)
        && let Some((package, mods)) = s.split_once('\n')
        && mods.trim() == wanted
    {
        return Ok(Kernel {
            name: name.into(),
            package: package.into(),
            dir,
        });
    }
    let package = package_for(name)?;
    println!("vm-test: fetching {package}");
    let _ = fs::remove_dir_all(&dir);
    let work = dir.join("unpacked");
    fs::create_dir_all(&work)?;
    let apt = if name == "5.10" {
        old_apt()?
    } else {
        Vec::new()
    };
    status(
        Command::new("apt-get")
            .args(&apt)
            .args(["download", "-q", &package])
            .current_dir(&dir),
    )?;
    let deb = fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .context("apt-get download left no .deb")?;
    status(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&work))?;
    let release = fs::read_dir(work.join("lib/modules"))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .next()
        .context("the package has no lib/modules")?;
    status(Command::new("depmod").arg("-b").arg(&work).arg(&release))?;
    let mroot = work.join("lib/modules").join(&release);
    let mods = dir.join("modules");
    fs::create_dir_all(&mods)?;
    let mut names = Vec::new();
    for path in load_order(&module_deps(&mroot)?) {
        let src = mroot.join(&path);
        let file = src.file_name().unwrap().to_string_lossy().into_owned();
        // busybox insmod takes plain .ko files only.
        let plain = file.trim_end_matches(".xz").to_string();
        if file.ends_with(".xz") {
            let out = Command::new("xz").arg("-dc").arg(&src).output()?;
            if !out.status.success() {
                bail!("xz -d {} failed", src.display());
            }
            fs::write(mods.join(&plain), out.stdout)?;
        } else {
            fs::copy(&src, mods.join(&plain))?;
        }
        names.push(plain);
    }
    fs::write(mods.join("order"), names.join("\n") + "\n")?;
    let image = fs::read_dir(work.join("boot"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz"))
        })
        .context("the package has no vmlinuz")?;
    fs::copy(image, dir.join("vmlinuz"))?;
    fs::remove_dir_all(&work)?;
    fs::remove_file(&deb)?;
    fs::write(&stamp, format!("{package}\n{wanted}\n"))?;
    Ok(Kernel {
        name: name.into(),
        package,
        dir,
    })
}
