//! What `vm-test` runs inside the VM: the root integration test binaries, less the tests that
//! cannot run there (each with its reason), grouped by problem.

/// Tests that are not run in the VM, and why. Listed in the table, never skipped silently.
pub const NOT_RUN: [(&str, &str, &str); 38] = [
    (
        "docker",
        "attributes_containers_with_their_seccomp_mode",
        DOCKER,
    ),
    ("overlay_docker", "container_copy_up_is_attributed", DOCKER),
    (
        "overlay_docker",
        "a_container_that_copies_up_and_exits_at_once_is_reported_by_name",
        DOCKER,
    ),
    (
        "overlay_docker",
        "a_docker_build_step_that_copies_up_is_reported",
        DOCKER,
    ),
    (
        "seccomp_accuracy",
        "a_filter_the_action_cache_skips_is_measured_against_its_twin",
        ACCURACY,
    ),
    (
        "seccomp_accuracy",
        "a_filter_that_runs_on_every_call_is_measured_against_its_twin",
        ACCURACY,
    ),
    (
        "seccomp_accuracy",
        "two_stacked_filters_are_measured_against_their_twin",
        ACCURACY,
    ),
    (
        "prometheus",
        "prometheus_scrapes_zombies_with_their_container_label",
        "needs a Docker engine and a Prometheus server; the VM has no network and no image store \
         (the host run covers it)",
    ),
    (
        "zombie_parents",
        "live_count_stays_exact_under_churn",
        "compares the live count with /proc at the same moments every 500 ms under a 500-zombie \
         churn; an emulated CPU's debug build prints no live line within seconds under that load \
         (the host run covers it; the zombie tests cover the kernel side here)",
    ),
    (
        "bench_overhead",
        "every_case_every_round_and_the_kernel_ran_the_programs_on_every_call",
        BENCH,
    ),
    (
        "bench_overhead",
        "an_interrupted_bench_stops_its_children_and_detaches",
        BENCH,
    ),
    (
        "soak",
        "soak",
        "a 10-minute benchmark, ignored in every test run (cargo xtask bench soak)",
    ),
    (
        "seccomp_bench",
        "docker_pid_filter_and_live_finding",
        DOCKER,
    ),
    ("sigpipe", "real_dockerd_with_a_closed_log_pipe", DOCKER),
    (
        "zombie",
        "docker_container_without_init_is_reported",
        DOCKER,
    ),
    (
        "live",
        "full_screen_fits_80_columns_shows_a_finding_and_q_stops_with_the_report",
        "the full screen's finding must show within seconds, which an emulated CPU's slow \
         snapshots miss; the screen does not depend on the kernel (the host run covers it)",
    ),
    (
        "seccomp_profile",
        "docker_default_agrees_with_a_real_default_profile_container",
        DOCKER,
    ),
    (
        "html",
        "recorded_reports_of_every_kind_render_in_chromium",
        CHROMIUM,
    ),
    ("html", "findings_come_first_coloured_by_severity", CHROMIUM),
    ("html", "a_remote_source_is_refused_and_logged", CHROMIUM),
    (
        "html",
        "golden_chart_data_of_the_recorded_reports",
        CHROMIUM,
    ),
    ("html", "trace_html_from_a_real_run", CHROMIUM),
    ("html", "serve_report_renders", CHROMIUM),
    ("html", "bench_seccomp_html_from_a_real_run", CHROMIUM),
    (
        "runtimes",
        "containerd_kubernetes_container_is_named_by_pod_namespace_and_container",
        RUNTIMES,
    ),
    (
        "runtimes",
        "serve_labels_kubernetes_containers_by_pod_namespace_and_container",
        RUNTIMES,
    ),
    ("runtimes", "podman_container_is_named", RUNTIMES),
    ("docker", "a_container_that_exits_at_once_is_named", DOCKER),
    (
        "docker",
        "containers_started_later_are_named_from_the_event_stream",
        DOCKER,
    ),
    (
        "docker",
        "doctor_says_why_docker_names_are_unavailable",
        DOCKER,
    ),
    (
        "evidence",
        "container_filter_takes_an_exec_from_its_first_syscall",
        DOCKER,
    ),
    (
        "evidence",
        "serve_attributes_a_dead_process_by_name",
        DOCKER,
    ),
    (
        "overlay_docker",
        "one_shot_docker_exec_copy_up_and_exdev_are_reported",
        DOCKER,
    ),
    (
        "seccomp_sampled",
        "sampled_default_profile_is_found_and_its_unconfined_twin_is_not",
        DOCKER,
    ),
    (
        "seccomp_sampled",
        "serve_resolves_the_finding_of_a_container_gone_quiet",
        DOCKER,
    ),
    (
        "zombie_signal",
        "docker_stop_of_a_pid1_without_a_sigterm_handler",
        DOCKER,
    ),
    (
        "sigpipe",
        "killed_docker_events_client_is_not_a_lost_log",
        DOCKER,
    ),
    (
        "sigpipe",
        "killed_docker_logs_client_is_not_a_lost_log",
        DOCKER,
    ),
];

const CHROMIUM: &str = "renders pages in Chromium, too slow for an emulated (TCG) VM; the pages \
                        don't depend on the kernel (the host run covers it)";

const RUNTIMES: &str = "needs containerd and podman with their image stores; the VM has no \
                        network (the host run covers it)";

const DOCKER: &str = "needs a Docker engine; the VM has no network and no image store \
                      (the host run covers it)";

const ACCURACY: &str = "compares sampled CPU time with the twins' own clocks; under \
                        emulation (TCG) neither the costs of mispredicted returns and jumps nor \
                        the timer's sampling are a real CPU's (the host run covers it)";

const BENCH: &str = "bench overhead loads the probes about a hundred times and starts bpftrace \
                     every round, too slow for an emulated CPU; its probes are the ones the other \
                     tests run (the host run covers it)";

/// In CI's matrix (`vm-test --ci`), the kernel that runs every test binary; the others run
/// `CI_OTHER_KERNELS`, so that three VMs side by side on two CPUs stay within CI's time.
/// Without `--ci` every kernel runs every binary.
pub const FULL_KERNEL: &str = "6.12";

/// In CI's matrix, what the other kernels run: every problem, both tiers of seccomp and
/// overlay, every attach type (the dispatcher's three, fentry, kprobe, tracepoints), doctor's
/// load check and the tiers' checks. The rest (the CLI's output, HTTP, pages, the Go runtime,
/// the seccomp bench) does not depend on the kernel beyond what these cover.
pub const CI_OTHER_KERNELS: [&str; 12] = [
    "seccomp",
    "tiers",
    "overlay",
    "overlay_proof",
    "overlay_metacopy",
    "sigpipe",
    "sigpipe_kernel",
    "sem",
    "zombie",
    "event_path",
    "evidence",
    "detach",
];
/// ... and the binaries of those whose tracepoint pass they run: the two tiered problems' own.
pub const CI_OTHER_KERNELS_TRACEPOINT: [&str; 2] = ["seccomp", "overlay"];

/// Whether `binary` runs on kernel `kernel` in a tier's pass (in CI's matrix when `ci`).
pub fn runs_on(binary: &str, kernel: &str, tier: &str, ci: bool) -> bool {
    if !ci || kernel == FULL_KERNEL {
        return true;
    }
    match tier {
        "tracepoint" => CI_OTHER_KERNELS_TRACEPOINT.contains(&binary),
        _ => CI_OTHER_KERNELS.contains(&binary),
    }
}

/// Tests that force their own tiers: run once, in the automatic pass, not again under
/// CTRACE_TIER=tracepoint.
pub const ONCE: [(&str, &str); 2] = [
    (
        "tiers",
        "doctor_load_agrees_with_trace_under_every_forced_tier",
    ),
    // Both tests (the name is a prefix of the tracepoint one's): one per tier already.
    (
        "overlay_metacopy",
        "the_write_after_a_metadata_only_copy_up_copies_the_data_up",
    ),
];

/// Problems in table order; `core` is the CLI, doctor, detach and tracefs tests.
pub const PROBLEMS: [&str; 6] = ["core", "seccomp", "overlay", "sigpipe", "sem", "zombie"];

/// Problems with a kernel-function tier: their tests run a second time forced to tracepoints.
pub const TIERED: [&str; 2] = ["seccomp", "overlay"];

/// The problem a test binary covers.
pub fn problem(binary: &str) -> &'static str {
    match binary {
        "seccomp" | "seccomp_bench" | "tiers" => "seccomp",
        "overlay" | "overlay_docker" | "overlay_metacopy" => "overlay",
        "sigpipe" => "sigpipe",
        "sem" => "sem",
        "zombie" => "zombie",
        _ => "core",
    }
}

/// `--skip` arguments of a binary in a tier's pass (libtest matches them as substrings of the
/// test's name).
pub fn skips(binary: &str, tier: &str) -> Vec<&'static str> {
    let once = ONCE.iter().filter(|_| tier == "tracepoint");
    NOT_RUN
        .iter()
        .map(|(b, t, _)| (b, t))
        .chain(once.map(|(b, t)| (b, t)))
        .filter(|(b, _)| **b == binary)
        .map(|(_, t)| *t)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_tests_are_skipped_by_name() {
        assert_eq!(
            skips("zombie", "auto"),
            ["docker_container_without_init_is_reported"]
        );
        assert!(skips("tiers", "auto").is_empty());
        assert_eq!(skips("tiers", "tracepoint").len(), 1);
        assert!(runs_on("html", "6.12", "auto", true) && !runs_on("html", "5.10", "auto", true));
        assert!(runs_on("sem", "5.10", "auto", true) && runs_on("html", "5.10", "auto", false));
        assert!(runs_on("seccomp", "6.1", "tracepoint", true));
        assert!(
            !runs_on("tiers", "6.1", "tracepoint", true) && runs_on("tiers", "6.1", "auto", true)
        );
        assert_eq!(problem("seccomp_bench"), "seccomp");
    }
}
