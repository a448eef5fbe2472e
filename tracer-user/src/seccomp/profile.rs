//! seccomp profiles in Docker's JSON format (what `--security-opt seccomp=FILE` takes),
//! compiled to classic BPF with libseccomp.

use std::io::{Read as _, Seek as _};

use anyhow::{Context as _, Result, anyhow, bail};
use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use serde::Deserialize;

/// A profile with the behaviour of Docker's default, written for this project.
pub const DOCKER_DEFAULT: &str = include_str!("../../profiles/docker-default.json");

#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    pub default_action: String,
    #[serde(default)]
    pub default_errno_ret: Option<i32>,
    #[serde(default)]
    pub architectures: Vec<String>,
    #[serde(default)]
    pub syscalls: Vec<Rule>,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    #[serde(default)]
    pub names: Vec<String>,
    #[serde(default)]
    pub name: Option<String>,
    pub action: String,
    #[serde(default)]
    pub errno_ret: Option<i32>,
    #[serde(default)]
    pub args: Vec<Arg>,
    #[serde(default)]
    pub includes: Conditions,
    #[serde(default)]
    pub excludes: Conditions,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Arg {
    pub index: u32,
    pub value: u64,
    #[serde(default)]
    pub value_two: u64,
    pub op: String,
}

#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct Conditions {
    #[serde(default)]
    pub caps: Vec<String>,
    #[serde(default)]
    pub arches: Vec<String>,
}

/// Parses a profile; serde's message names the field and the line.
pub fn parse(text: &str, origin: &str) -> Result<Profile> {
    serde_json::from_str(text).map_err(|e| anyhow!("{origin}: invalid seccomp profile: {e}"))
}

fn action(name: &str, errno: Option<i32>) -> Result<ScmpAction> {
    Ok(match name {
        "SCMP_ACT_ALLOW" => ScmpAction::Allow,
        "SCMP_ACT_ERRNO" => ScmpAction::Errno(errno.unwrap_or(libc::EPERM)),
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => ScmpAction::KillThread,
        "SCMP_ACT_KILL_PROCESS" => ScmpAction::KillProcess,
        "SCMP_ACT_TRAP" => ScmpAction::Trap,
        "SCMP_ACT_LOG" => ScmpAction::Log,
        "SCMP_ACT_TRACE" => ScmpAction::Trace(errno.unwrap_or(0) as u16),
        other => bail!("unknown action {other:?}"),
    })
}

fn compare(a: &Arg) -> Result<ScmpArgCompare> {
    let op = match a.op.as_str() {
        "SCMP_CMP_NE" => ScmpCompareOp::NotEqual,
        "SCMP_CMP_LT" => ScmpCompareOp::Less,
        "SCMP_CMP_LE" => ScmpCompareOp::LessOrEqual,
        "SCMP_CMP_EQ" => ScmpCompareOp::Equal,
        "SCMP_CMP_GE" => ScmpCompareOp::GreaterEqual,
        "SCMP_CMP_GT" => ScmpCompareOp::Greater,
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

/// A rule applies to this machine's containers unless it needs capabilities a default
/// container lacks, or another architecture.
fn applies(r: &Rule) -> bool {
    let arch_ok = |arches: &[String]| arches.iter().any(|a| a == "amd64" || a == "x86_64");
    r.includes.caps.is_empty()
        && (r.includes.arches.is_empty() || arch_ok(&r.includes.arches))
        && !(arch_ok(&r.excludes.arches))
}

/// Compiles a profile to the classic BPF program the kernel runs (struct sock_filter array).
pub fn compile(p: &Profile) -> Result<Vec<u8>> {
    let default = action(&p.default_action, p.default_errno_ret).context("defaultAction")?;
    let mut ctx = ScmpFilterContext::new(default)?;
    if p.architectures.iter().any(|a| a == "SCMP_ARCH_X86") {
        ctx.add_arch(ScmpArch::X86)?;
    }
    for (i, r) in p.syscalls.iter().enumerate().filter(|(_, r)| applies(r)) {
        let act =
            action(&r.action, r.errno_ret).with_context(|| format!("syscalls[{i}].action"))?;
        let cmps: Vec<ScmpArgCompare> = r
            .args
            .iter()
            .map(compare)
            .collect::<Result<_>>()
            .with_context(|| format!("syscalls[{i}].args"))?;
        for name in r.names.iter().chain(r.name.iter()) {
            let sc = ScmpSyscall::from_name(name)
                .map_err(|_| anyhow!("syscalls[{i}]: unknown syscall name {name:?}"))?;
            let added = if cmps.is_empty() {
                ctx.add_rule(act, sc)
            } else {
                ctx.add_rule_conditional(act, sc, &cmps)
            };
            // libseccomp refuses rules whose action is the default one: they change nothing.
            if let Err(e) = added
                && act != default
            {
                return Err(anyhow!("syscalls[{i}] ({name}): {e}"));
            }
        }
    }
    let mut tmp = tempfile()?;
    ctx.export_bpf(&tmp)?;
    tmp.rewind()?;
    let mut bpf = Vec::new();
    tmp.read_to_end(&mut bpf)?;
    Ok(bpf)
}

fn tempfile() -> Result<std::fs::File> {
    let path = std::env::temp_dir().join(format!(
        "ctrace-bpf-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)?;
    std::fs::remove_file(&path)?;
    Ok(f)
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_default_compiles() {
        let p = parse(DOCKER_DEFAULT, "docker-default").unwrap();
        let bpf = compile(&p).unwrap();
        // struct sock_filter is 8 bytes; a real allowlist is hundreds of instructions.
        assert!(bpf.len().is_multiple_of(8));
        assert!(bpf.len() / 8 > 50, "{} instructions", bpf.len() / 8);
    }

    #[test]
    fn malformed_profiles_name_the_problem() {
        let e = parse("{\n \"syscalls\": []\n}", "x.json")
            .unwrap_err()
            .to_string();
        assert!(e.contains("defaultAction") && e.contains("line"), "{e}");
        let e = parse(
            "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"a\"]}]}",
            "x.json",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("action"), "{e}");
        let p = parse(
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["no_such_call"], "action": "SCMP_ACT_ERRNO"}]}"#,
            "x.json",
        )
        .unwrap();
        let e = compile(&p).unwrap_err().to_string();
        assert!(e.contains("unknown syscall name \"no_such_call\""), "{e}");
        let p = parse(r#"{"defaultAction": "SCMP_ACT_NOPE"}"#, "x.json").unwrap();
        assert!(format!("{:#}", compile(&p).unwrap_err()).contains("defaultAction"));
    }
}
