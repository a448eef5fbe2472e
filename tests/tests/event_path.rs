//! The event path on the real kernel: one sys_enter and one sys_exit program serve every
//! syscall-based problem, no `syscalls:` tracepoint is ever attached, and the maps of problems
//! not asked are 1-entry stubs.

use std::time::Duration;

use serde_json::Value;
use tests::{
    Tracer,
    links::{is_syscalls_tracepoint, links},
    root,
};

/// Maps of the syscall-based problems, as the kernel names them (15 characters at most).
const SYSCALL_PROBLEM_MAPS: [&str; 16] = [
    "SYS_START",
    "SYS_HISTS",
    "SYS_COUNTS",
    "SYS_COMMS",
    "FILTER_START",
    "FILTER_COST",
    "SEM_EVENTS",
    "SEM_ARGS",
    "SEM_USE_SEEN",
    "SIGPIPE_EVENTS",
    "WRITE_ARGS",
    "EPIPE_COUNTS",
    "PIPED",
    "OVERLAY_EVENTS",
    "OVERLAY_ARGS",
    "OVERLAY_CU_STAR",
];

fn map<'a>(report: &'a Value, name: &str) -> &'a Value {
    let m = &report["bpf"]["maps"][name];
    assert!(m.is_object(), "map {name} missing from {}", report["bpf"]);
    m
}

#[test]
fn every_problem_rides_one_sys_enter_and_one_sys_exit_program() {
    if !root() {
        return;
    }
    let tracer = Tracer::start(&["trace", "--json", "--interval", "500ms"]);
    // Let every problem's start-up attach settle.
    std::thread::sleep(Duration::from_millis(500));
    let held = links(tracer.pid());
    let report = tracer.stop_json();

    let classic: Vec<_> = held.iter().filter(|l| is_syscalls_tracepoint(l)).collect();
    assert!(
        classic.is_empty(),
        "syscalls: tracepoints attached: {classic:?}"
    );
    for tp in ["sys_enter", "sys_exit"] {
        let on: Vec<_> = held.iter().filter(|l| l.tp_name == tp).collect();
        assert_eq!(on.len(), 1, "programs on {tp}: {on:?} (all: {held:?})");
    }
    for p in ["seccomp", "sem", "sigpipe", "overlay"] {
        assert!(report[p].is_object(), "{p} section missing");
    }
    // The kernel's own figure, on this node, with every problem: within 16 MiB where maps
    // allocate as they fill; where they must be preallocated (kernels before 6.1, prealloc.rs)
    // it is their full size, within 40 MiB.
    let bytes = report["bpf"]["map_bytes"].as_u64().unwrap();
    let preallocated = report["bpf"]["preallocated"].as_bool().unwrap_or(false);
    let cap: u64 = if preallocated { 40 << 20 } else { 16 << 20 };
    tests::record(&format!(
        "map bytes with every problem: {bytes} (preallocated: {preallocated})"
    ));
    assert!(
        bytes > 0 && bytes <= cap,
        "map bytes {bytes}, preallocated {preallocated}"
    );
}

#[test]
fn zombie_alone_leaves_the_syscall_problems_as_stubs() {
    if !root() {
        return;
    }
    let tracer = Tracer::start(&["trace", "zombie", "--json"]);
    let held = links(tracer.pid());
    let report = tracer.stop_json();

    assert!(
        !held.iter().any(|l| l.tp_name.starts_with("sys_")),
        "zombie needs no syscall program: {held:?}"
    );
    assert!(!held.is_empty(), "no links seen at all");
    for name in SYSCALL_PROBLEM_MAPS {
        let entries = map(&report, name)["max_entries"].as_u64().unwrap();
        // aya creates every map of the object: the unasked ones are 1 entry (a ring: 1 page).
        let stub = if name.ends_with("_EVENTS") { 4096 } else { 1 };
        assert_eq!(entries, stub, "{name} is not a stub");
    }
    assert_eq!(map(&report, "ZOMBIE_WATCH")["max_entries"], 65536);
}

/// Each attach type of the dispatcher (tp_btf, then raw_tp, then the classic tracepoint, as the
/// kernel allows) carries every syscall-based problem: forced one at a time, the report names it
/// for each, and the gated shell's calls are counted (against its own count of what it ran).
#[test]
fn every_dispatcher_attach_type_carries_every_problem() {
    if !root() {
        return;
    }
    for at in ["tp_btf", "raw_tp", "tracepoint"] {
        let gated = tests::Gated::new("for i in 1 2 3 4 5 6 7 8 9 10; do /bin/true; done");
        let pid = gated.pid().to_string();
        let tracer = Tracer::start_with(
            &["trace", "--json", "--interval", "300ms", "--pid", &pid],
            &[("CTRACE_SYSCALL_ATTACH", at)],
        );
        gated.run();
        std::thread::sleep(Duration::from_millis(400));
        let report = tracer.stop_json();
        for p in ["seccomp", "sem", "sigpipe", "overlay"] {
            let probe = report["probes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|x| x["problem"] == p)
                .unwrap_or_else(|| panic!("{at}: no {p} probe in {:#}", report["probes"]));
            assert_eq!(probe["attach_type"], at, "{at}: {probe:#}");
        }
        // The shell and its ten `true`s, each with at least its execve and exit_group.
        let procs = report["seccomp"]["processes"].as_array().unwrap();
        let calls: u64 = procs.iter().filter_map(|p| p["syscalls"].as_u64()).sum();
        assert!(procs.len() >= 11 && calls >= 20, "{at}: {procs:#?}");
    }
}
