//! Proof of equivalence: the filter ctrace builds from Docker's default.json returns the same
//! action as the filter runc installed in a real default-profile container, for every syscall
//! number of the x86_64, i386 and x32 ABIs, with zero arguments and with the values the
//! profile's argument checks turn on. Both are evaluated with the cBPF interpreter in
//! `tests::cbpf`, so a difference names the syscall, the ABI and both actions.

use std::{collections::BTreeSet, path::PathBuf, process::Command};

use serde_json::Value;
use tests::{
    cbpf::{
        self, AUDIT_ARCH_AARCH64, AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, SeccompData, X32_SYSCALL_BIT,
    },
    docker::Docker,
    root, run_ctrace, skip_or_fail,
};

const DEFAULT_JSON: &str =
    "/usr/share/gocode/src/github.com/docker/docker/profiles/seccomp/default.json";
const CONTAINER: &str = "ctrace-test-seccomp-equivalence";
/// Past the end of every table: x86_64 is near 460, i386 near 450, x32 near 550.
const NRS: u32 = 1024;

/// The ABIs a process on x86_64 can call the kernel through: (name, arch, number base).
const ABIS: [(&str, u32, u32); 3] = [
    ("x86_64", AUDIT_ARCH_X86_64, 0),
    ("i386", AUDIT_ARCH_I386, 0),
    ("x32", AUDIT_ARCH_X86_64, X32_SYSCALL_BIT),
];

/// Argument values around every comparison in the profile: the value itself and its
/// neighbours, each bit of a mask alone and with the datum, and the same with high bits set
/// (libseccomp compares 64-bit arguments as two words).
fn argument_values(profile: &Value) -> BTreeSet<(usize, u64)> {
    let mut out = BTreeSet::new();
    for rule in profile["syscalls"].as_array().into_iter().flatten() {
        for a in rule["args"].as_array().into_iter().flatten() {
            let index = a["index"].as_u64().unwrap_or(0) as usize;
            let value = a["value"].as_u64().unwrap_or(0);
            let two = a["valueTwo"].as_u64().unwrap_or(0);
            let mut v = vec![
                value,
                value.wrapping_add(1),
                value.wrapping_sub(1),
                two,
                u64::MAX,
            ];
            if a["op"] == "SCMP_CMP_MASKED_EQ" {
                for bit in (0..64).filter(|b| value & (1 << b) != 0) {
                    v.extend([1 << bit, two | (1 << bit)]);
                }
            }
            for x in v {
                out.insert((index, x));
                out.insert((index, x | (1 << 32)));
            }
        }
    }
    out
}

/// Every syscall number of every ABI with zero arguments, and with each argument value where
/// either filter looked at an argument (where neither did, no value can change the answer),
/// plus numbers past the tables and a foreign architecture. Labels and both actions wherever
/// `ours` and `theirs` disagree, and the number of cases asked.
fn differences(ours: &[Vec<u8>], theirs: &[Vec<u8>], profile: &Value) -> (Vec<String>, usize) {
    let args = argument_values(profile);
    let mut asked = 0;
    let mut diff = Vec::new();
    let mut ask = |label: String, d: &SeccompData| -> bool {
        asked += 1;
        let (a, ra) = cbpf::run_all_traced(ours, d)
            .unwrap_or_else(|e| panic!("ctrace's filter, {label}: {e}"));
        let (b, rb) = cbpf::run_all_traced(theirs, d)
            .unwrap_or_else(|e| panic!("the container's filter, {label}: {e}"));
        if a != b {
            diff.push(format!(
                "{label}: ctrace {} / container {}",
                cbpf::describe(a),
                cbpf::describe(b)
            ));
        }
        ra || rb
    };
    for (abi, arch, base) in ABIS {
        for n in (0..NRS).chain([0x3fff_ffff, 0x7fff_ffff, u32::MAX]) {
            let d = SeccompData::new(arch, base | n);
            if ask(format!("{abi} {n}"), &d) {
                for &(i, v) in &args {
                    let mut d = d;
                    d.args[i] = v;
                    ask(format!("{abi} {n} arg{i}={v:#x}"), &d);
                }
            }
        }
    }
    // Another architecture: both must give the bad-architecture action.
    ask("aarch64 0".into(), &SeccompData::new(AUDIT_ARCH_AARCH64, 0));
    (diff, asked)
}

fn read_saved(setup: &Value) -> Vec<Vec<u8>> {
    setup["saved"]
        .as_array()
        .unwrap_or_else(|| panic!("no saved filters in {setup}"))
        .iter()
        .map(|p| std::fs::read(p.as_str().unwrap()).unwrap())
        .collect()
}

fn host_pid(name: &str) -> u32 {
    let out = Command::new("docker")
        .args(["inspect", "-f", "{{.State.Pid}}", name])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

struct Removed<'a>(&'a Docker);

impl Drop for Removed<'_> {
    fn drop(&mut self) {
        self.0.rm(CONTAINER);
    }
}

/// Docker's default.json with one more call allowed: a profile that must not agree.
fn mutated_default(dir: &std::path::Path) -> PathBuf {
    let mut p: Value =
        serde_json::from_str(&std::fs::read_to_string(DEFAULT_JSON).unwrap()).unwrap();
    p["syscalls"][0]["names"]
        .as_array_mut()
        .unwrap()
        .push("process_vm_readv".into());
    let path = dir.join("mutated-default.json");
    std::fs::write(&path, serde_json::to_string(&p).unwrap()).unwrap();
    path
}

#[test]
fn docker_default_agrees_with_a_real_default_profile_container() {
    if !root() {
        return;
    }
    if !std::path::Path::new(DEFAULT_JSON).exists() {
        skip_or_fail(&format!(
            "{DEFAULT_JSON} is missing: cargo xtask setup installs it"
        ));
        return;
    }
    let profile: Value =
        serde_json::from_str(&std::fs::read_to_string(DEFAULT_JSON).unwrap()).unwrap();
    let docker = Docker::start();
    docker.run(CONTAINER, &[], &["sleep", "600"]);
    let _removed = Removed(&docker);
    let dir = tests::scratch_dir().join(format!("seccomp-equivalence-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mutated = mutated_default(&dir);
    // CTRACE_EQUIVALENCE_PROFILE=FILE compares FILE instead of docker-default (a lookalike, say).
    let candidate = std::env::var("CTRACE_EQUIVALENCE_PROFILE").ok();

    let pid = host_pid(CONTAINER).to_string();
    let saved = dir.join("filters");
    let mut args = vec![
        "bench",
        "seccomp",
        "--pid",
        &pid,
        "--profile",
        mutated.to_str().unwrap(),
        "--save-filters",
        saved.to_str().unwrap(),
        "--workload",
        "getppid",
        "--iterations",
        "1000",
        "--runs",
        "1",
        "--json",
    ];
    if let Some(c) = &candidate {
        args.extend(["--profile", c.as_str()]);
    }
    let (code, out, err) = run_ctrace(&args);
    assert_eq!(code, 0, "{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    let setups = doc["setups"].as_array().unwrap();
    let setup = |prefix: &str| {
        setups
            .iter()
            .find(|s| s["name"].as_str().unwrap().starts_with(prefix))
            .unwrap_or_else(|| panic!("no setup {prefix} in {doc:#}"))
    };
    let theirs = read_saved(setup("pid "));
    let ours = match &candidate {
        Some(c) => read_saved(setup(
            std::path::Path::new(c)
                .file_name()
                .unwrap()
                .to_str()
                .unwrap(),
        )),
        None => read_saved(setup("docker-default")),
    };

    // The check can fail: one more allowed call is found, and only it.
    let (wrong, _) = differences(
        &read_saved(setup("mutated-default.json")),
        &theirs,
        &profile,
    );
    let expected = ["x86_64 310", "i386 347", "x32 539"];
    assert!(
        !wrong.is_empty()
            && wrong.iter().all(|w| expected
                .iter()
                .any(|e| w.starts_with(&format!("{e}:")) || w.starts_with(&format!("{e} ")))),
        "a profile that also allows process_vm_readv: {wrong:#?}"
    );

    let (diff, asked) = differences(&ours, &theirs, &profile);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        diff.is_empty(),
        "{} of {} cases differ from the container's filter ({} and {} instructions; x86_64 {}, i386 {}, x32 {}), first ones:\n{}",
        diff.len(),
        asked,
        ours.iter().map(|f| f.len() / 8).sum::<usize>(),
        theirs.iter().map(|f| f.len() / 8).sum::<usize>(),
        diff.iter().filter(|d| d.starts_with("x86_64")).count(),
        diff.iter().filter(|d| d.starts_with("i386")).count(),
        diff.iter().filter(|d| d.starts_with("x32")).count(),
        diff.iter().take(40).cloned().collect::<Vec<_>>().join("\n")
    );
    eprintln!(
        "equivalence: {asked} cases (x86_64, i386, x32 syscall numbers 0..{NRS}, with argument values where a filter reads them), all agree"
    );
}
