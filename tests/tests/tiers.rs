//! Probe tiers on the real kernel: doctor names each problem's tier, a forced tracepoint tier
//! is honoured, and where the kernel allows fentry or kprobe the seccomp filter's own time is
//! measured and set beside the calibration estimate.

use std::process::Command;

use serde_json::Value;
use tests::{root, run_ctrace, spawn_ready};

/// The tiers doctor finds, by problem (CTRACE_TIER unset): one doctor run, read once per test
/// binary (a doctor run is seconds of verification under an emulated CPU).
fn doctor_tiers() -> &'static std::collections::HashMap<String, String> {
    static TIERS: std::sync::OnceLock<std::collections::HashMap<String, String>> =
        std::sync::OnceLock::new();
    TIERS.get_or_init(|| {
        let _tracefs = tests::tracefs_in_use();
        let o = Command::new(tests::ctrace_bin())
            .args(["doctor", "--json"])
            .env_remove("CTRACE_TIER")
            .output()
            .unwrap();
        let (out, err) = (
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr),
        );
        let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {err}"));
        doc["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|c| {
                let p = c["name"].as_str()?.strip_prefix("tier:")?;
                assert_eq!(c["status"], "ok", "{c}");
                let t = c["detail"].as_str()?.split_whitespace().next()?;
                Some((p.to_string(), t.to_string()))
            })
            .collect()
    })
}

/// The tier doctor finds for `problem` on its own (CTRACE_TIER unset).
fn doctor_tier(problem: &str) -> String {
    doctor_tiers()
        .get(problem)
        .unwrap_or_else(|| panic!("no tier:{problem} in {:?}", doctor_tiers()))
        .clone()
}

#[test]
fn doctor_names_every_problems_tier() {
    if !root() {
        return;
    }
    for p in ["seccomp", "overlay", "sigpipe", "sem", "zombie"] {
        let t = doctor_tier(p);
        assert!(
            ["tracepoint", "kprobe", "fentry"].contains(&t.as_str()),
            "{p}: {t}"
        );
    }
}

#[test]
fn seccomp_filter_time_is_measured_where_the_kernel_allows() {
    if !root() {
        return;
    }
    let (mut helper, line) = spawn_ready(env!("CARGO_BIN_EXE_seccomp-helper"), &[]);
    assert_eq!(line, "filtered");
    let pid = helper.id();
    let (code, out, err) = run_ctrace(&[
        "trace",
        "seccomp",
        "--pid",
        &pid.to_string(),
        "--duration",
        "2s",
        "--json",
    ]);
    let tier_env = std::env::var("CTRACE_TIER").unwrap_or_default();
    helper.kill().unwrap();
    helper.wait().unwrap();
    assert_eq!(code, 0, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    let tier = tests::probe_tier(&report, "seccomp");
    assert_eq!(report["seccomp"]["tier"], tier.as_str());
    let expected = match tier_env.as_str() {
        "tracepoint" => "tracepoint".to_string(),
        _ => doctor_tier("seccomp"),
    };
    assert_eq!(tier, expected);
    let times = &report["seccomp"]["filter_time"];
    if tier == "tracepoint" {
        assert!(times.is_null(), "{report:#}");
        return;
    }
    let t = times
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["pid"] == pid)
        .unwrap_or_else(|| panic!("no filter time for {pid}: {report:#}"));
    assert!(t["calls"].as_u64().unwrap() > 1000, "{t}");
    let measured = t["measured_ns_per_syscall"].as_f64().unwrap();
    let calibrated = t["calibrated_ns_per_syscall"].as_f64().unwrap();
    assert!(measured > 0.0, "{t}");
    tests::record(&format!(
        "seccomp 202-instruction filter: {tier} on __secure_computing {measured:.0} ns/syscall, \
         calibration (getppid with against without the filter) {calibrated:.0} ns/syscall"
    ));
}

/// Where the kernel refuses the kernel tiers (this host), forcing one is a one-line error;
/// where it allows them, forcing kprobe gives the kprobe/kretprobe pair instead of fentry.
#[test]
fn forcing_a_tier() {
    if !root() {
        return;
    }
    let allowed = doctor_tier("seccomp") != "tracepoint";
    let _tracefs = tests::tracefs_in_use();
    let out = Command::new(tests::ctrace_bin())
        .args(["trace", "seccomp", "--duration", "1s", "--json"])
        .env("CTRACE_TIER", if allowed { "kprobe" } else { "fentry" })
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    if allowed {
        assert_eq!(out.status.code(), Some(0), "{err}");
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(tests::probe_tier(&report, "seccomp"), "kprobe");
        return;
    }
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("fentry tier was asked for"), "{err}");
}

/// doctor loads what trace loads: under each forced tier, and with overlay's dentry walk in one
/// run (`CTRACE_OVERLAY_WALK_WHOLE=1`, the walk 6.1's and 5.10's verifiers refuse), its
/// `load` verdict is trace's own outcome (the oracle), and a refusal names the same cause. On a
/// kernel that refuses fentry or kprobes (this development host), the forced kernel tiers are
/// refusals; in the 6.1 and 5.10 VMs, the one-program walk is, with the verifier's last lines.
#[test]
fn doctor_load_agrees_with_trace_under_every_forced_tier() {
    if !root() {
        return;
    }
    let mut refused = Vec::new();
    for (var, tier) in [
        ("CTRACE_TIER", "auto"),
        ("CTRACE_TIER", "fentry"),
        ("CTRACE_OVERLAY_WALK_WHOLE", "1"),
    ] {
        let _tracefs = tests::tracefs_in_use();
        // One dispatcher attach type: a refused walk costs the verifier 1M instructions per
        // type tried, which an emulated CPU takes most of a minute for.
        let o = Command::new(tests::ctrace_bin())
            .args(["doctor", "--json"])
            .env("CTRACE_TIER", "auto")
            .env("CTRACE_SYSCALL_ATTACH", "tp_btf")
            .env(var, tier)
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&o.stdout);
        let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        let load = doc["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "load")
            .unwrap_or_else(|| panic!("no load check in {out}"))
            .clone();
        let t = Command::new(tests::ctrace_bin())
            .args(["trace", "--duration", "1s", "--no-tui", "--json"])
            .env("CTRACE_TIER", "auto")
            .env("CTRACE_SYSCALL_ATTACH", "tp_btf")
            .env(var, tier)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&t.stderr);
        let detail = load["detail"].as_str().unwrap();
        if t.status.success() {
            assert_eq!(
                load["status"], "ok",
                "{tier}: trace ran, doctor said {load}"
            );
        } else {
            refused.push(format!("{var}={tier}"));
            assert_eq!(
                load["status"], "fail",
                "{tier}: trace failed ({err}), doctor said {load}"
            );
            if var == "CTRACE_OVERLAY_WALK_WHOLE" {
                // A verifier's refusal: the program, and where the log ends.
                assert!(detail.contains("overlay_walk_"), "{detail}");
                assert!(
                    detail.contains("processed") || detail.contains("insn"),
                    "{detail}"
                );
            }
            let cause = err
                .lines()
                .find_map(|l| l.strip_prefix("ctrace: error: "))
                .unwrap_or_else(|| panic!("{tier}: no error line in {err}"));
            let head: String = cause.chars().take(60).collect();
            assert!(
                detail.contains(&head),
                "{tier}: doctor {detail:?} against trace {cause:?}"
            );
        }
    }
    tests::record(&format!(
        "doctor load agreed with trace; refused here: {}",
        if refused.is_empty() {
            "none".to_string()
        } else {
            refused.join(", ")
        }
    ));
}
