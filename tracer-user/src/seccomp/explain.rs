//! What the seccomp numbers mean, and what the probes can't see; shown in the human report.

/// Shown under the seccomp section of every human report.
pub const CAVEATS: &str = "\
Latency is measured from raw_syscalls:sys_enter to sys_exit. sys_enter fires after the seccomp
filter has run, so the filter's own cost is not inside these numbers: compare syscall rates and
latencies between containers with and without a filter to see what it costs.
Enabling syscall tracepoints sends every task through the slow syscall entry path, so while
ctrace traces, all tasks pay the same per-syscall entry cost a seccomp filter forces.
`ctrace trace seccomp --sampled` measures seccomp's cost from cpu-clock samples instead, with
no syscall probe attached.";

/// Why a filtered container is slower, in terms of what was measured.
pub fn slowdown_explanation(
    c: &super::section::ContainerStat,
    e: &super::estimate::Estimate,
) -> String {
    let who = c.container_name.as_deref().unwrap_or(&c.container_id);
    let mut s = format!(
        "Container {who} makes {:.0} syscalls/s under a seccomp filter ({} filter(s), {} BPF instructions). \
         Each syscall pays about {:.0} ns for it, so the container loses about {:.1} ms of CPU per second \
         ({:.1}% of one CPU). ",
        e.syscalls_per_s,
        e.filters,
        e.instructions,
        e.ns_per_syscall,
        e.ms_lost_per_s,
        e.cpu_share * 100.0
    );
    if e.action_cache {
        s.push_str(
            "A filter moves every syscall off the fast entry path (the old guides' `tracesys` instead of \
             `system_call_fastpath`); this kernel's action cache skips the filter program for syscalls it \
             always allows, so the cost is mostly that slower entry plus the rules that check arguments.",
        );
    } else {
        s.push_str(
            "On this kernel (before 5.11, no action cache) every syscall takes the slow entry path \
             (`tracesys` instead of `system_call_fastpath`) and runs the whole filter program.",
        );
    }
    if e.ssb.as_deref().is_some_and(|v| v.contains("force")) {
        s.push_str(
            " The kernel also forces the speculative store bypass mitigation on this seccomp task, which \
             slows all of its code, not only its syscalls.",
        );
    }
    s
}

/// A sampled loss, in terms of what the samples showed.
pub fn sampled_explanation(
    r: &super::sampled::SampledRow,
    e: &super::estimate::Estimate,
    syscall_probes: bool,
) -> String {
    let who = match (&r.container_name, &r.container_id, r.pid) {
        (Some(name), _, _) => format!("Container {name}"),
        (None, Some(id), _) => format!("Container {id}"),
        (None, None, Some(pid)) => format!(
            "Host process {} (pid {pid})",
            r.comm.as_deref().unwrap_or("?")
        ),
        _ => "?".into(),
    };
    let mut s = format!(
        "{who} spent about {:.1} ms of CPU per second ({:.1}% of one CPU; 95% interval \
         {:.1} to {:.1} ms/s) in the seccomp path, as cpu-clock samples of its kernel stacks show: \
         {:.1} ms/s in the filter itself, {:.1} ms/s in the slow syscall entry it forces.",
        r.seccomp.ms_per_s,
        e.cpu_share * 100.0,
        r.seccomp.low,
        r.seccomp.high,
        r.filter.ms_per_s,
        r.slow_path.ms_per_s,
    );
    if syscall_probes {
        s.push_str(&format!(
            " ctrace's own syscall probes were attached, which send every task down the slow path: \
             that share ({:.1} ms/s here) is not counted; `ctrace trace seccomp --sampled` measures \
             both with no probe.",
            r.slow_path_shared.ms_per_s
        ));
    }
    if e.ssb.as_deref().is_some_and(|v| v.contains("force")) {
        s.push_str(
            " The kernel also forces the speculative store bypass mitigation on this seccomp task, which \
             slows all of its code; samples can't tell that share apart.",
        );
    }
    s
}

/// The options, weighed by the numbers.
pub fn slowdown_remediation(e: &super::estimate::Estimate) -> String {
    let mut steps = Vec::new();
    if e.cpu_share >= super::estimate::CRITICAL_SHARE {
        steps.push(
            "The loss is large: if this container is trusted and performance-critical, run it with \
             `--security-opt seccomp=unconfined` (it removes a security boundary: do it for this container only)."
                .to_string(),
        );
    } else {
        steps.push(
            "The loss is moderate: keep the filter unless this container is trusted and performance-critical; \
             `--security-opt seccomp=unconfined` is the last resort, not the default."
                .to_string(),
        );
    }
    let size = match e.instructions {
        0 => String::new(),
        n => format!(" (the current filter has {n} instructions)"),
    };
    steps.push(format!(
        "A trimmed custom profile (`--security-opt seccomp=FILE`) that allows this workload's syscalls without \
         argument checks keeps the protection at a lower cost{size}; \
         `ctrace bench seccomp --profile FILE` measures it before you deploy it."
    ));
    if !e.action_cache {
        steps.push("A kernel of 5.11 or newer has the seccomp action cache, which makes allowed syscalls much cheaper.".into());
    }
    if e.ssb.as_deref().is_some_and(|v| v.contains("force")) {
        steps.push(
            "Speculative store bypass is force-mitigated for seccomp tasks: booting with \
             `spec_store_bypass_disable=prctl` (the default since 5.16) stops seccomp from forcing it, \
             where your threat model allows."
                .into(),
        );
    }
    steps.join(" ")
}
