//! `ctrace doctor`: one line per node check, each ok, warn or fail.

use anyhow::Result;

use crate::{
    attach::{self, AttachType, Globals},
    attrib::cgroup,
    node, registry,
    shared::{Check, Status, check},
    tier::{self, Features},
};

/// Every check; those that need root are marked skipped unless `root`.
pub fn checks(root: bool) -> Vec<Check> {
    let skip = |name: &str| check(name, Status::Skip, "needs root");
    let mut out = vec![check("kernel", Status::Ok, node::kernel_release())];
    out.push(match attach::kernel_btf() {
        Ok(_) => check("btf", Status::Ok, "/sys/kernel/btf/vmlinux"),
        Err(e) => check(
            "btf",
            Status::Warn,
            format!("{e:#}: tp_btf and fentry unavailable"),
        ),
    });
    out.push(crate::evidence::Evidence::of_node().check());
    out.push(match node::ensure_tracefs() {
        _ if !root => skip("tracefs"),
        Ok(node::Tracefs::Present) => check("tracefs", Status::Ok, node::TRACEFS),
        Ok(node::Tracefs::MountedNow) => check(
            "tracefs",
            Status::Ok,
            format!("{} (mounted now)", node::TRACEFS),
        ),
        Err(e) => check("tracefs", Status::Fail, format!("{e:#}")),
    });
    out.push(match node::bump_memlock() {
        _ if !root => skip("memlock"),
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
    if root {
        out.extend(attach_checks());
        out.push(load_check());
        out.extend(crate::bpf_cost::doctor_checks());
    } else {
        out.push(skip("attach"));
        out.push(skip("load"));
        out.push(skip("tier"));
        out.push(skip("bpf:maps"));
    }
    let layout = cgroup::cgroup_layout();
    out.push(check("cgroup", Status::Ok, layout.name()));
    out.extend(crate::attrib::name_sources::checks());
    for e in registry::ALL {
        out.extend((e.doctor)());
    }
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

/// What `ctrace trace` would load, loaded and attached for real (every problem, the tiers it
/// would choose), then detached: a kernel that refuses a real program, not only a stand-in,
/// fails here with the program and the verifier's last lines.
fn load_check() -> Check {
    use clap::Parser as _;
    let cli = crate::cli::Cli::parse_from(["ctrace", "trace"]);
    let crate::cli::Cmd::Trace(args) = cli.cmd else {
        return check("load", Status::Fail, "internal: no trace arguments");
    };
    match crate::trace::Session::open(&args, 0) {
        Ok(s) => check(
            "load",
            Status::Ok,
            format!("what trace loads: {}", s.attached()),
        ),
        Err(e) => check("load", Status::Fail, verifier_tail(&format!("{e:#}"), 6)),
    }
}

/// An error with its verifier log cut to the log's last `n` lines: where the refusal is.
pub fn verifier_tail(err: &str, n: usize) -> String {
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.len() <= n + 1 {
        return lines.join(" | ");
    }
    let mut out = vec![lines[0]];
    out.push("...");
    out.extend(&lines[lines.len() - n..]);
    out.join(" | ")
}

/// The tier each problem would use, found by attaching its kernel-tier programs for real.
fn tier_checks(ebpf: &mut aya::Ebpf, f: Features) -> Vec<Check> {
    let wish = match tier::wished() {
        Ok(w) => w,
        Err(e) => return vec![check("tier", Status::Fail, e)],
    };
    registry::ALL
        .iter()
        .map(|e| match e.tier_check {
            Some(tier_check) => tier_check(ebpf, f, wish),
            None => check(
                &format!("tier:{}", e.name()),
                Status::Ok,
                "tracepoint (its only tier)",
            ),
        })
        .collect()
}

pub fn run(json: bool) -> Result<bool> {
    // Without root, the checks that need no privilege still tell a user what the node is.
    let root = node::require_root().is_ok();
    let checks = checks(root);
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
                Status::Skip => "skip",
            };
            crate::outln!("{s}  {:<18} {}", c.name, c.detail)?;
        }
        if !root {
            crate::outln!(
                "(not root: the checks marked skip load eBPF or mount tracefs; run as root for them)"
            )?;
        }
    }
    Ok(checks.iter().all(|c| c.status != Status::Fail))
}

#[cfg(test)]
mod tests {
    use super::verifier_tail;

    #[test]
    fn a_refusal_keeps_its_first_line_and_the_verifiers_last_lines() {
        let log: String = (0..500).map(|i| format!("{i}: (b7) r1 = 0\n")).collect();
        let err = format!(
            "loading overlay_walk_btf: Argument list too long\n{log}processed 1000001 insns (limit 1000000)\n"
        );
        let t = verifier_tail(&err, 3);
        assert!(t.starts_with("loading overlay_walk_btf"), "{t}");
        assert!(
            t.ends_with("processed 1000001 insns (limit 1000000)"),
            "{t}"
        );
        assert_eq!(t.matches(" | ").count(), 4, "{t}");
        assert_eq!(verifier_tail("short", 3), "short");
    }
}
