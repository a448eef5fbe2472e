//! A profile's calls compiled to classic BPF the way runc 1.1 does it (libcontainer/seccomp):
//! redundant rules skipped, names libseccomp doesn't know skipped, several conditions on one
//! argument split into one rule each, and runc's -ENOSYS stub in front of libseccomp's program.

use std::{
    io::{Read as _, Seek as _},
    str::FromStr as _,
};

use anyhow::{Context as _, Result, anyhow, bail};
use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};

use super::{
    Arg, Profile,
    docker_semantics::{self, Node},
    enosys,
};

/// A filter ready to install, and what Docker would have warned about on the way.
#[derive(Debug)]
pub struct Compiled {
    pub bpf: Vec<u8>,
    pub warnings: Vec<String>,
}

/// runc's defaults: ERRNO and TRACE without errnoRet return EPERM.
pub(super) fn action(name: &str, errno: Option<u32>) -> Result<ScmpAction> {
    let ret = errno.unwrap_or(libc::EPERM as u32);
    Ok(match name {
        "SCMP_ACT_ALLOW" => ScmpAction::Allow,
        "SCMP_ACT_ERRNO" => ScmpAction::Errno(ret as u16 as i32),
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => ScmpAction::KillThread,
        "SCMP_ACT_KILL_PROCESS" => ScmpAction::KillProcess,
        "SCMP_ACT_TRAP" => ScmpAction::Trap,
        "SCMP_ACT_LOG" => ScmpAction::Log,
        "SCMP_ACT_TRACE" => ScmpAction::Trace(ret as u16),
        "SCMP_ACT_NOTIFY" => bail!(
            "SCMP_ACT_NOTIFY hands the call to a user-space agent through a listener fd; bench \
             can't run that"
        ),
        other => bail!("unknown action {other:?}"),
    })
}

fn compare(a: &Arg) -> Result<ScmpArgCompare> {
    if a.index >= 6 {
        bail!("argument index {} (a syscall has 6)", a.index);
    }
    let op = match a.op.as_str() {
        "SCMP_CMP_NE" => ScmpCompareOp::NotEqual,
        "SCMP_CMP_LT" => ScmpCompareOp::Less,
        "SCMP_CMP_LE" => ScmpCompareOp::LessOrEqual,
        "SCMP_CMP_EQ" => ScmpCompareOp::Equal,
        "SCMP_CMP_GE" => ScmpCompareOp::GreaterEqual,
        "SCMP_CMP_GT" => ScmpCompareOp::Greater,
        // Docker's value is the mask, valueTwo the datum (libseccomp's argument order).
        "SCMP_CMP_MASKED_EQ" => {
            return Ok(ScmpArgCompare::new(
                a.index,
                ScmpCompareOp::MaskedEqual(a.value),
                a.value_two,
            ));
        }
        other => bail!("unknown comparison op {other:?}"),
    };
    Ok(ScmpArgCompare::new(a.index, op, a.value))
}

fn libseccomp_version() -> String {
    libseccomp::ScmpVersion::current().map_or("?".into(), |v| {
        format!("{}.{}.{}", v.major, v.minor, v.micro)
    })
}

/// Compiles `p` for a container on `node`, as Docker and runc would.
pub fn compile(p: &Profile, node: &Node) -> Result<Compiled> {
    let sel = docker_semantics::select(p, node)?;
    let default = action(&sel.default_action, sel.default_errno_ret).context("defaultAction")?;
    let mut ctx = ScmpFilterContext::new(default)?;
    for a in &sel.architectures {
        let arch = ScmpArch::from_str(a).map_err(|_| anyhow!("unknown architecture {a:?}"))?;
        ctx.add_arch(arch)
            .map_err(|e| anyhow!("adding architecture {a}: {e}"))?;
    }
    let mut unknown: Vec<&str> = Vec::new();
    for c in &sel.calls {
        let at = || format!("syscalls[{}] ({})", c.rule, c.name);
        let act = action(&c.action, c.errno_ret).with_context(at)?;
        let Ok(sc) = ScmpSyscall::from_name(&c.name) else {
            unknown.push(&c.name);
            continue;
        };
        // libseccomp refuses a rule whose action is the default one; it would change nothing.
        if act == default {
            continue;
        }
        let cmps: Vec<ScmpArgCompare> = c
            .args
            .iter()
            .map(compare)
            .collect::<Result<_>>()
            .with_context(at)?;
        let mut seen = [0u8; 6];
        c.args.iter().for_each(|a| seen[a.index as usize] += 1);
        let added = if cmps.is_empty() {
            ctx.add_rule(act, sc).map(|_| ())
        } else if seen.iter().any(|&n| n > 1) {
            // libseccomp ANDs a rule's conditions; runc gives each its own rule (OR) when one
            // argument is compared twice.
            cmps.iter()
                .try_for_each(|cmp| ctx.add_rule_conditional(act, sc, &[*cmp]).map(|_| ()))
        } else {
            ctx.add_rule_conditional(act, sc, &cmps).map(|_| ())
        };
        added.map_err(|e| anyhow!("{}: {e}", at()))?;
    }
    let mut warnings = Vec::new();
    if !unknown.is_empty() {
        unknown.sort();
        unknown.dedup();
        warnings.push(format!(
            "{} syscall name(s) unknown to libseccomp {} skipped, as Docker and runc do: {}",
            unknown.len(),
            libseccomp_version(),
            unknown.join(", ")
        ));
    }
    let mut bpf = enosys::stub(&sel, &default)?;
    bpf.extend(export(&ctx)?);
    Ok(Compiled { bpf, warnings })
}

fn export(ctx: &ScmpFilterContext) -> Result<Vec<u8>> {
    let mut tmp = tempfile()?;
    ctx.export_bpf(&tmp)?;
    tmp.rewind()?;
    let mut bpf = Vec::new();
    tmp.read_to_end(&mut bpf)?;
    Ok(bpf)
}

fn tempfile() -> Result<std::fs::File> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let path = std::env::temp_dir().join(format!("ctrace-bpf-{}-{nanos}", std::process::id()));
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)?;
    std::fs::remove_file(&path)?;
    Ok(f)
}
