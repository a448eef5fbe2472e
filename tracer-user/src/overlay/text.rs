//! Human rendering of the overlay section: copy-ups per container, histogram, EXDEV renames.

use std::fmt::Write as _;

use crate::{hist::Log2Hist, overlay::analyzer::OverlayReport};

fn tier_check(out: &mut String, o: &OverlayReport) {
    let Some(c) = &o.tier_check else {
        return;
    };
    let _ = writeln!(
        out,
        "{} tier: {} copy-ups timed in the kernel ({} outside the traced calls);\n  of the proven \
         ones {} timed, {} not; syscall time exceeds copy-up time by p50 {:.3} ms,\n  max {:.3} ms",
        o.tier,
        c.kernel_copy_ups,
        c.outside_traced_calls,
        c.proven_and_timed,
        c.proven_not_timed,
        c.p50_overhead_ns as f64 / 1e6,
        c.max_overhead_ns as f64 / 1e6
    );
}

pub fn render(out: &mut String, o: &OverlayReport, top: usize) {
    let _ = writeln!(
        out,
        "\n== overlay: {} copy-ups ({:.1} MiB, p99 {:.2} ms), {} EXDEV renames, {} calls checked ==",
        o.copy_ups,
        o.bytes as f64 / (1 << 20) as f64,
        o.p99_latency_ns as f64 / 1e6,
        o.exdev.len(),
        o.checked
    );
    tier_check(out, o);
    for g in &o.groups {
        let who = g
            .container_name
            .as_deref()
            .or(g.container_id.as_deref())
            .unwrap_or("host");
        let _ = writeln!(
            out,
            "\n{who}: {} copy-ups, {:.1} MiB, p50 {:.2} ms, p99 {:.2} ms, upper free {}",
            g.copy_ups,
            g.bytes as f64 / (1 << 20) as f64,
            g.p50_latency_ns as f64 / 1e6,
            g.p99_latency_ns as f64 / 1e6,
            g.upper_free.map_or("?".into(), |f| format!(
                "{:.1} GiB",
                f as f64 / (1u64 << 30) as f64
            ))
        );
        for c in g.largest.iter().take(top) {
            // Under metacopy one file is copied up twice: say which half each line is.
            let half = if c.metadata_only {
                ", metadata only"
            } else if c.completes_metacopy.is_some() {
                ", the data after a metadata-only copy-up"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "  {:>10} B {:>9.2} ms  {:<15} {} ({} pid {}{half})",
                c.size,
                c.latency_ns as f64 / 1e6,
                c.trigger,
                c.path,
                c.comm,
                c.pid
            );
        }
        if !g.latency_hist_ns.is_empty() {
            out.push_str(&Log2Hist::from_buckets(&g.latency_hist_ns).render("copy-up nsecs"));
        }
    }
    for c in o.failed.iter().take(top.max(10)) {
        let _ = writeln!(
            out,
            "FAILED copy-up ({}): {} ({} B) by {} (pid {}); upper free {}",
            c.error.unwrap_or("?"),
            c.path,
            c.size,
            c.comm,
            c.pid,
            c.upper_free.map_or("?".into(), |f| format!("{f} B"))
        );
    }
    for h in o.hardlink_breaks.iter().take(top.max(10)) {
        let _ = writeln!(
            out,
            "hard link broken: {} ({} links; other names: {}) by {} (pid {}); index param {}, mount {}",
            h.path,
            h.nlink,
            if h.other_names.is_empty() {
                "not found".to_string()
            } else {
                h.other_names.join(", ")
            },
            h.comm,
            h.pid,
            h.index_param.as_deref().unwrap_or("?"),
            h.mount_index.as_deref().unwrap_or("default")
        );
    }
    if o.exdev_cross_mount > 0 {
        let _ = writeln!(
            out,
            "{} EXDEV rename(s) across mounts (to a volume or bind mount): expected, not a finding",
            o.exdev_cross_mount
        );
    }
    for e in o.exdev.iter().filter(|e| e.same_mount).take(top.max(10)) {
        let _ = writeln!(
            out,
            "EXDEV: {} -> {} by {} (pid {}){}; redirect_dir param {}, mount {}",
            e.source,
            e.target,
            e.comm,
            e.pid,
            if e.source_is_lower_dir {
                ", a lower-layer directory"
            } else {
                ""
            },
            e.redirect_dir_param.as_deref().unwrap_or("?"),
            e.mount_redirect_dir.as_deref().unwrap_or("default")
        );
    }
}
