//! Which rules of a profile apply on this node, by the rules of Docker's profile loader (moby
//! `profiles/seccomp`, 20.10): `archMap` or `architectures`, includes and excludes by arches,
//! capabilities and minKernel, then one call per name as runc's spec conversion makes them.

use anyhow::{Result, bail};

use super::{Arg, Conditions, Profile};

/// The bounding set of a default Docker container (moby `oci/caps/defaults.go`).
pub const DEFAULT_CAPS: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// What Docker's conditions are evaluated against.
#[derive(Clone, Debug)]
pub struct Node {
    /// Go's name of the native architecture ("amd64"), which `arches` conditions name.
    pub arch: &'static str,
    /// libseccomp's name of it ("SCMP_ARCH_X86_64"), which `archMap` entries name.
    pub scmp_arch: &'static str,
    /// The container's bounding set, names with the CAP_ prefix.
    pub caps: Vec<String>,
    /// (kernel, major) of the running kernel, for minKernel.
    pub kernel: (u32, u32),
}

impl Node {
    /// This machine, for a container with Docker's default capabilities or `caps`: a list of
    /// names (with or without CAP_), where `default` stands for Docker's default set.
    pub fn this(caps: Option<&[String]>) -> Node {
        let (arch, scmp_arch) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", "SCMP_ARCH_X86_64"),
            "x86" => ("x86", "SCMP_ARCH_X86"),
            "aarch64" => ("arm64", "SCMP_ARCH_AARCH64"),
            "arm" => ("arm", "SCMP_ARCH_ARM"),
            "s390x" => ("s390x", "SCMP_ARCH_S390X"),
            "powerpc64" => ("ppc64le", "SCMP_ARCH_PPC64LE"),
            _ => ("", ""),
        };
        Node {
            arch,
            scmp_arch,
            caps: caps_set(caps.unwrap_or(&["default".to_string()])),
            kernel: crate::node::kernel_version(),
        }
    }
}

/// `default` expands to Docker's default set; other names get the CAP_ prefix if they lack it.
pub fn caps_set(names: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for n in names.iter().flat_map(|n| n.split(',')).map(str::trim) {
        if n.is_empty() {
            continue;
        }
        if n.eq_ignore_ascii_case("default") {
            out.extend(DEFAULT_CAPS.iter().map(|c| c.to_string()));
        } else {
            let up = n.to_ascii_uppercase();
            out.push(if up.starts_with("CAP_") {
                up
            } else {
                format!("CAP_{up}")
            });
        }
    }
    out.sort();
    out.dedup();
    out
}

/// One syscall of the runtime's configuration.
#[derive(Clone, Debug)]
pub struct Call {
    pub name: String,
    pub action: String,
    pub errno_ret: Option<u32>,
    pub args: Vec<Arg>,
    /// Index of the profile rule it comes from, for error messages.
    pub rule: usize,
}

/// What Docker hands to runc for this node.
#[derive(Debug)]
pub struct Selected {
    pub default_action: String,
    pub default_errno_ret: Option<u32>,
    pub architectures: Vec<String>,
    pub calls: Vec<Call>,
}

/// "<kernel>.<major>", as Docker parses it: two parts, each below 256, not 0.0.
fn min_kernel(v: &str) -> Result<(u32, u32)> {
    let bad = || anyhow::anyhow!("invalid kernel version: {v:?}, expected \"<kernel>.<major>\"");
    let (a, b) = v.split_once('.').ok_or_else(bad)?;
    let (a, b): (u8, u8) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
    if (a, b) == (0, 0) {
        return Err(bad());
    }
    Ok((a.into(), b.into()))
}

fn list(v: &Option<Vec<String>>) -> &[String] {
    v.as_deref().unwrap_or(&[])
}

/// Docker's order: any exclude that matches drops the rule, then every include must match.
fn applies(node: &Node, inc: &Conditions, exc: &Conditions) -> Result<bool> {
    let has = |v: &[String], s: &str| v.iter().any(|x| x == s);
    if has(list(&exc.arches), node.arch) {
        return Ok(false);
    }
    if list(&exc.caps).iter().any(|c| has(&node.caps, c)) {
        return Ok(false);
    }
    if let Some(k) = exc.min_kernel.as_deref().filter(|k| !k.is_empty())
        && node.kernel >= min_kernel(k)?
    {
        return Ok(false);
    }
    let arches = list(&inc.arches);
    if !arches.is_empty() && !has(arches, node.arch) {
        return Ok(false);
    }
    if !list(&inc.caps).iter().all(|c| has(&node.caps, c)) {
        return Ok(false);
    }
    if let Some(k) = inc.min_kernel.as_deref().filter(|k| !k.is_empty())
        && node.kernel < min_kernel(k)?
    {
        return Ok(false);
    }
    Ok(true)
}

pub fn select(p: &Profile, node: &Node) -> Result<Selected> {
    let architectures = match (&p.architectures, &p.arch_map) {
        (Some(a), Some(m)) if !a.is_empty() && !m.is_empty() => {
            bail!("'architectures' and 'archMap' were both given: use one of them")
        }
        (Some(a), _) if !a.is_empty() => a.clone(),
        // Only the native architecture's entry counts, with its sub-architectures.
        (_, Some(m)) => m
            .iter()
            .find(|e| e.architecture == node.scmp_arch)
            .map(|e| {
                std::iter::once(e.architecture.clone())
                    .chain(list(&e.sub_architectures).iter().cloned())
                    .collect()
            })
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    let none = Conditions::default();
    let mut calls = Vec::new();
    for (i, r) in p.syscalls.iter().flatten().enumerate() {
        let (inc, exc) = (
            r.includes.as_ref().unwrap_or(&none),
            r.excludes.as_ref().unwrap_or(&none),
        );
        if !applies(node, inc, exc).map_err(|e| anyhow::anyhow!("syscalls[{i}]: {e}"))? {
            continue;
        }
        let names = list(&r.names);
        let names: Vec<String> = match &r.name {
            Some(n) if !n.is_empty() && !names.is_empty() => {
                bail!("syscalls[{i}]: 'name' and 'names' were both given: use one of them")
            }
            Some(n) if !n.is_empty() => vec![n.clone()],
            _ => names.to_vec(),
        };
        for name in names {
            calls.push(Call {
                name,
                action: r.action.clone(),
                errno_ret: r.errno_ret,
                args: r.args.clone().unwrap_or_default(),
                rule: i,
            });
        }
    }
    Ok(Selected {
        default_action: p.default_action.clone(),
        default_errno_ret: p.default_errno_ret,
        architectures,
        calls,
    })
}
