//! Profiles read as Docker reads them, and the filters judged by what they return, through the
//! integration tests' cBPF interpreter.

use super::{
    compile::Compiled,
    docker_semantics::{DEFAULT_CAPS, caps_set},
    *,
};

#[allow(dead_code)]
#[path = "../../../../tests/src/cbpf.rs"]
mod cbpf;

use cbpf::{AUDIT_ARCH_AARCH64, AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, SeccompData, X32_SYSCALL_BIT};

const EVERY_RULE: &str = include_str!("../../../profiles/every-rule.json");

fn node(caps: &[&str], kernel: (u32, u32)) -> Node {
    let caps: Vec<String> = caps.iter().map(|c| c.to_string()).collect();
    Node {
        arch: "amd64",
        scmp_arch: "SCMP_ARCH_X86_64",
        caps: caps_set(&caps),
        kernel,
    }
}

fn built(text: &str, node: &Node) -> Compiled {
    compile(&parse(text, "test").unwrap(), node).unwrap()
}

/// What the filter returns for syscall `nr` of `arch` with these first arguments, in words.
fn eval(bpf: &[u8], arch: u32, nr: i64, args: &[u64]) -> String {
    let mut d = SeccompData::new(arch, nr as u32);
    d.args[..args.len()].copy_from_slice(args);
    cbpf::describe(cbpf::run(bpf, &d).unwrap())
}

fn x64(bpf: &[u8], nr: i64, args: &[u64]) -> String {
    eval(bpf, AUDIT_ARCH_X86_64, nr, args)
}

#[test]
fn every_rule_of_the_format_as_docker_and_runc_apply_it() {
    use libc::*;
    let c = built(EVERY_RULE, &node(&["default"], (6, 1)));
    assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
    assert!(
        c.warnings[0].contains("no_such_call_for_test"),
        "{:?}",
        c.warnings
    );
    let f = &c.bpf;
    let cases: [(i64, &[u64], &str); 28] = [
        (SYS_read, &[], "allow"),
        // errnoRet, ERRNO without it (EPERM), the default's defaultErrnoRet.
        (SYS_getuid, &[], "errno 95"),
        (SYS_getgid, &[], "errno 1"),
        (SYS_getpid, &[], "errno 13"),
        // includes/excludes by arches: this is amd64.
        (SYS_arch_prctl, &[], "allow"),
        (SYS_getegid, &[], "errno 13"),
        (SYS_geteuid, &[], "errno 13"),
        // by caps: a default container lacks CAP_SYS_ADMIN.
        (SYS_mount, &[], "errno 13"),
        (SYS_unshare, &[], "allow"),
        // by minKernel.
        (SYS_ptrace, &[], "allow"),
        (SYS_getpgid, &[], "errno 13"),
        (SYS_getsid, &[], "allow"),
        // Two conditions on one argument: runc makes them two rules (either allows).
        (SYS_socket, &[1], "allow"),
        (SYS_socket, &[2], "allow"),
        (SYS_socket, &[10], "errno 13"),
        // MASKED_EQ: no namespace flag.
        (SYS_clone, &[SIGCHLD as u64], "allow"),
        (
            SYS_clone,
            &[CLONE_NEWUSER as u64 | SIGCHLD as u64],
            "errno 13",
        ),
        // Conditions on two arguments: both must hold.
        (SYS_kill, &[5, 15], "allow"),
        (SYS_kill, &[5, 9], "errno 13"),
        (SYS_kill, &[0, 15], "errno 13"),
        (SYS_kexec_load, &[], "kill-process"),
        (SYS_reboot, &[], "kill-thread"),
        (SYS_acct, &[], "trap"),
        (SYS_sync, &[], "log"),
        (SYS_syncfs, &[], "trace 7"),
        // runc's stub: above the highest call named (syncfs) ENOSYS, below it the default.
        (SYS_syncfs + 1, &[], "errno 38"),
        (1000, &[], "errno 38"),
        (SYS_syncfs - 1, &[], "errno 13"),
    ];
    for (nr, args, want) in cases {
        assert_eq!(x64(f, nr, args), want, "x86_64 syscall {nr} {args:?}");
    }
    // archMap: x86_64's entry brings i386, not x32; aarch64's entry is not this node's.
    assert_eq!(eval(f, AUDIT_ARCH_I386, 64, &[]), "allow", "i386 getppid");
    assert_eq!(eval(f, AUDIT_ARCH_I386, 20, &[]), "errno 13", "i386 getpid");
    assert_eq!(
        eval(f, AUDIT_ARCH_X86_64, (X32_SYSCALL_BIT | 110) as i64, &[]),
        "kill-thread",
        "x32 getppid"
    );
    assert_eq!(eval(f, AUDIT_ARCH_AARCH64, 173, &[]), "kill-thread");

    // Another capability set, another kernel.
    let admin = built(EVERY_RULE, &node(&["default", "sys_admin"], (6, 1)));
    assert_eq!(x64(&admin.bpf, SYS_mount, &[]), "allow");
    assert_eq!(x64(&admin.bpf, SYS_unshare, &[]), "errno 13");
    let old = built(EVERY_RULE, &node(&["default"], (4, 4)));
    assert_eq!(x64(&old.bpf, SYS_ptrace, &[]), "errno 13");
    assert_eq!(x64(&old.bpf, SYS_getsid, &[]), "allow");
}

#[test]
fn an_allowing_default_gets_no_enosys_stub() {
    let text = r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"name": "getppid", "action": "SCMP_ACT_ERRNO"}]}"#;
    let c = built(text, &node(&["default"], (6, 1)));
    assert_eq!(x64(&c.bpf, libc::SYS_getppid, &[]), "errno 1");
    assert_eq!(x64(&c.bpf, 1000, &[]), "allow");
}

/// Docker's own default.json, from the Debian package `cargo xtask setup` installs.
fn docker_default_or_skip() -> Option<String> {
    match docker_default() {
        Ok(t) => Some(t),
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") => {
            panic!("cannot run under CI: {e:#}")
        }
        Err(e) => {
            eprintln!("\n!!! SKIPPED: {e:#} !!!\n");
            None
        }
    }
}

#[test]
fn dockers_default_json_as_docker_reads_it() {
    use libc::*;
    let Some(text) = docker_default_or_skip() else {
        return;
    };
    let p = parse(&text, "default.json").unwrap();
    let n = node(&["default"], (6, 1));
    let sel = docker_semantics::select(&p, &n).unwrap();
    assert_eq!(
        sel.architectures,
        ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    );
    let named = |s: &str| sel.calls.iter().any(|c| c.name == s);
    // CAP_SYS_PTRACE and CAP_SYS_ADMIN rules are out, the minKernel 4.8 ptrace rule is in.
    assert!(!named("process_vm_readv") && !named("mount") && named("ptrace"));
    let c = compile(&p, &n).unwrap();
    let f = &c.bpf;
    let cases: [(i64, &[u64], &str); 12] = [
        (SYS_getppid, &[], "allow"),
        (SYS_process_vm_readv, &[], "errno 1"),
        (SYS_clone, &[SIGCHLD as u64], "allow"),
        (SYS_clone, &[CLONE_NEWUSER as u64], "errno 1"),
        (SYS_socket, &[AF_INET as u64], "allow"),
        // 20.10.24 has no AF_VSOCK rule yet (moby added it in 23.0).
        (SYS_socket, &[AF_VSOCK as u64], "allow"),
        (SYS_personality, &[0], "allow"),
        (SYS_personality, &[0xffff_ffff], "allow"),
        (SYS_personality, &[1], "errno 1"),
        (SYS_clone3, &[], "errno 38"),
        (SYS_ptrace, &[], "allow"),
        (1000, &[], "errno 38"),
    ];
    for (nr, args, want) in cases {
        assert_eq!(x64(f, nr, args), want, "x86_64 syscall {nr} {args:?}");
    }
    assert_eq!(eval(f, AUDIT_ARCH_I386, 64, &[]), "allow", "i386 getppid");
    assert_eq!(
        eval(f, AUDIT_ARCH_X86_64, (X32_SYSCALL_BIT | 110) as i64, &[]),
        "allow",
        "x32 getppid"
    );
    assert_eq!(
        eval(f, AUDIT_ARCH_X86_64, (X32_SYSCALL_BIT | 1000) as i64, &[]),
        "errno 38",
        "x32 beyond the table"
    );
    let ptrace = compile(&p, &node(&["default", "SYS_PTRACE"], (6, 1))).unwrap();
    assert_eq!(x64(&ptrace.bpf, SYS_process_vm_readv, &[]), "allow");

    // Docker's fixture in the old format: `architectures` and one `name` per rule.
    let old = std::path::Path::new(DOCKER_DEFAULT_PATH)
        .with_file_name("fixtures/default-old-format.json");
    let old = std::fs::read_to_string(old).unwrap();
    let c = compile(&parse(&old, "old").unwrap(), &n).unwrap();
    assert_eq!(x64(&c.bpf, SYS_getppid, &[]), "allow");
    assert_eq!(eval(&c.bpf, AUDIT_ARCH_I386, 64, &[]), "allow");
}

#[test]
fn what_docker_refuses_is_one_line() {
    let n = node(&["default"], (6, 1));
    let err = |text: &str| {
        let e = match parse(text, "x.json") {
            Ok(p) => format!("{:#}", compile(&p, &n).unwrap_err()),
            Err(e) => format!("{e:#}"),
        };
        assert!(!e.contains('\n'), "{e}");
        e
    };
    let e = err(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}]}"#,
    );
    assert!(
        e.contains("syscalls[0] (getppid)") && e.contains("SCMP_ACT_NOTIFY"),
        "{e}"
    );
    let e = err(r#"{"defaultAction": "SCMP_ACT_NOTIFY"}"#);
    assert!(
        e.contains("defaultAction") && e.contains("SCMP_ACT_NOTIFY"),
        "{e}"
    );
    let e = err(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"name": "read", "names": ["write"], "action": "SCMP_ACT_ERRNO"}]}"#,
    );
    assert!(e.contains("'name' and 'names'"), "{e}");
    let e = err(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86"], "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]}"#,
    );
    assert!(e.contains("'architectures' and 'archMap'"), "{e}");
    let e = err(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "includes": {"minKernel": "4"}}]}"#,
    );
    assert!(
        e.contains("syscalls[0]") && e.contains("invalid kernel version"),
        "{e}"
    );
    let e = err("{\n \"syscalls\": []\n}");
    assert!(e.contains("defaultAction") && e.contains("line"), "{e}");
    let e = err("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"a\"]}]}");
    assert!(e.contains("action"), "{e}");
    let e = err(r#"{"defaultAction": "SCMP_ACT_NOPE"}"#);
    assert!(
        e.contains("defaultAction") && e.contains("SCMP_ACT_NOPE"),
        "{e}"
    );
}

#[test]
fn caps_are_named_as_docker_names_them() {
    let s = caps_set(&["default,sys_admin".into(), "CAP_SYS_PTRACE".into()]);
    assert!(s.contains(&"CAP_SYS_ADMIN".to_string()) && s.contains(&"CAP_CHOWN".to_string()));
    assert_eq!(s.len(), DEFAULT_CAPS.len() + 2);
    assert_eq!(caps_set(&["net_admin".into()]), ["CAP_NET_ADMIN"]);
}
