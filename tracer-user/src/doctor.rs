//! `ctrace doctor`: one line per node check, each ok, warn or fail.

use std::path::Path;

use anyhow::Result;
use serde::Serialize;

use crate::{
    attach::{self, AttachType, Globals},
    attrib::{cgroup, docker::DockerNames},
    node,
    overlay::kernel_tier::CopyUpProbe,
    problem::Problem,
    seccomp::filter_time::FilterProbe,
    tier::{self, Features, Tier},
};

#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

#[derive(Serialize, Debug, Clone)]
pub struct Check {
    pub name: String,
    pub status: Status,
    pub detail: String,
}

fn check(name: &str, status: Status, detail: impl Into<String>) -> Check {
    Check {
        name: name.into(),
        status,
        detail: detail.into(),
    }
}

const RUNTIME_SOCKETS: [(&str, &str); 5] = [
    ("docker", "/var/run/docker.sock"),
    ("containerd", "/run/containerd/containerd.sock"),
    ("cri-o", "/var/run/crio/crio.sock"),
    ("podman", "/run/podman/podman.sock"),
    ("cri-dockerd", "/var/run/cri-dockerd.sock"),
];

pub fn checks() -> Vec<Check> {
    let mut out = vec![check("kernel", Status::Ok, node::kernel_release())];
    out.push(match attach::kernel_btf() {
        Ok(_) => check("btf", Status::Ok, "/sys/kernel/btf/vmlinux"),
        Err(e) => check(
            "btf",
            Status::Warn,
            format!("{e:#}: tp_btf and fentry unavailable"),
        ),
    });
    out.push(match node::ensure_tracefs() {
        Ok(node::Tracefs::Present) => check("tracefs", Status::Ok, node::TRACEFS),
        Ok(node::Tracefs::MountedNow) => check(
            "tracefs",
            Status::Ok,
            format!("{} (mounted now)", node::TRACEFS),
        ),
        Err(e) => check("tracefs", Status::Fail, format!("{e:#}")),
    });
    out.push(match node::bump_memlock() {
        Ok(None) => check("memlock", Status::Ok, "RLIMIT_MEMLOCK unlimited"),
        Ok(Some(old)) => check(
            "memlock",
            Status::Ok,
            format!(
                "RLIMIT_MEMLOCK was {} KiB; ctrace raises it to unlimited",
                old / 1024
            ),
        ),
        Err(e) => check("memlock", Status::Fail, format!("{e:#}")),
    });
    out.extend(attach_checks());
    out.extend(crate::bpf_cost::doctor_checks());
    let layout = cgroup::cgroup_layout();
    out.push(check("cgroup", Status::Ok, layout.name()));
    let found: Vec<String> = RUNTIME_SOCKETS
        .iter()
        .filter(|(_, p)| Path::new(p).exists())
        .map(|(n, p)| format!("{n} ({p})"))
        .collect();
    out.push(if found.is_empty() {
        check(
            "runtimes",
            Status::Warn,
            "no container runtime socket found; containers are named by cgroup id only",
        )
    } else {
        check("runtimes", Status::Ok, found.join(", "))
    });
    if Path::new(RUNTIME_SOCKETS[0].1).exists() {
        let mut d = DockerNames::new(RUNTIME_SOCKETS[0].1.into());
        out.push(if d.available() {
            check(
                "docker_api",
                Status::Ok,
                "Docker Engine API answers: container names are shown",
            )
        } else {
            check(
                "docker_api",
                Status::Warn,
                "docker.sock exists but does not answer: names unavailable",
            )
        });
    }
    out.extend(crate::overlay::doctor_checks());
    out.extend(crate::sem::doctor_checks());
    out.extend(crate::sigpipe::doctor_checks());
    out.extend(crate::zombie::doctor_checks(
        &mut crate::attrib::Attributor::new(),
    ));
    out
}

/// Loads a tiny program of every attach type and attaches it: the only reliable test.
fn attach_checks() -> Vec<Check> {
    let g = Globals {
        pid_max: 1,
        ..Default::default()
    };
    let mut ebpf = match attach::load(&g) {
        Ok(e) => e,
        Err(e) => return vec![check("bpf", Status::Fail, format!("{e:#}"))],
    };
    let verdicts = attach::probe_attach_types(&mut ebpf);
    let tiers = tier_checks(&mut ebpf, Features::from_verdicts(&verdicts));
    let any_tp = verdicts.iter().any(|(at, v)| {
        v.is_ok()
            && matches!(
                at,
                AttachType::Tracepoint | AttachType::RawTp | AttachType::TpBtf
            )
    });
    verdicts
        .into_iter()
        .map(|(at, v)| {
            let name = format!("attach:{}", at.name());
            let optional = matches!(at, AttachType::Fentry | AttachType::Kprobe);
            match v {
                Ok(()) => check(&name, Status::Ok, "loaded and attached"),
                Err(e) if optional => check(
                    &name,
                    Status::Warn,
                    format!("{e} (optional upgrade; tracepoints are used)"),
                ),
                Err(e) if any_tp => check(
                    &name,
                    Status::Warn,
                    format!("{e} (another tracepoint kind works)"),
                ),
                Err(e) => check(&name, Status::Fail, e),
            }
        })
        .chain(tiers)
        .collect()
}

/// The tier each problem would use, found by attaching its kernel-tier programs for real.
fn tier_checks(ebpf: &mut aya::Ebpf, f: Features) -> Vec<Check> {
    let wish = match tier::wished() {
        Ok(w) => w,
        Err(e) => return vec![check("tier", Status::Fail, e)],
    };
    let seccomp = match FilterProbe::attach(ebpf, f, wish) {
        Ok(Some(mut p)) => {
            p.detach(ebpf);
            let how = if p.tier == Tier::Fentry {
                "fentry/fexit"
            } else {
                "kprobe/kretprobe"
            };
            check(
                "tier:seccomp",
                Status::Ok,
                format!(
                    "{} ({how} on __secure_computing: the filter's own time per syscall)",
                    p.tier.name()
                ),
            )
        }
        Ok(None) => check(
            "tier:seccomp",
            Status::Ok,
            "tracepoint (fentry/kprobe on __secure_computing refused here: the filter time is calibrated)",
        ),
        Err(e) => check("tier:seccomp", Status::Fail, format!("{e:#}")),
    };
    let overlay = match CopyUpProbe::attach(ebpf, f, wish) {
        Ok(Some(p)) => {
            for l in p.links() {
                let _ = attach::detach(ebpf, l);
            }
            check(
                "tier:overlay",
                Status::Ok,
                "kprobe (kprobe/kretprobe on ovl_copy_up_one: every copy-up timed in the kernel)",
            )
        }
        Ok(None) => check(
            "tier:overlay",
            Status::Ok,
            "tracepoint (kprobe on ovl_copy_up_one refused here, or the overlay module is not loaded: copy-ups proven from the upper layer)",
        ),
        Err(e) => check("tier:overlay", Status::Fail, format!("{e:#}")),
    };
    let mut out = vec![seccomp, overlay];
    for p in [Problem::Sigpipe, Problem::Sem, Problem::Zombie] {
        out.push(check(
            &format!("tier:{}", p.name()),
            Status::Ok,
            "tracepoint (its only tier)",
        ));
    }
    out
}

pub fn run(json: bool) -> Result<bool> {
    node::require_root()?;
    let checks = checks();
    if json {
        let doc = serde_json::json!({
            "version": env!("CARGO_PKG_VERSION"),
            "checks": checks,
        });
        crate::outln!("{}", serde_json::to_string_pretty(&doc)?)?;
    } else {
        for c in &checks {
            let s = match c.status {
                Status::Ok => "ok  ",
                Status::Warn => "warn",
                Status::Fail => "FAIL",
            };
            crate::outln!("{s}  {:<18} {}", c.name, c.detail)?;
        }
    }
    Ok(checks.iter().all(|c| c.status != Status::Fail))
}
