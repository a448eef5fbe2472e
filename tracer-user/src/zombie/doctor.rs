//! zombie's part of `ctrace doctor`: inits that do not reap, and the zombies present now.

use super::{is_known_init, procfs};
use crate::shared::{Check, Status};

/// `ctrace doctor`: container inits that are not known to reap, and the zombies present now.
pub fn doctor_checks(attrib: &mut crate::attrib::Attributor) -> Vec<Check> {
    let mut out = Vec::new();
    let inits: Vec<String> = procfs::namespace_inits()
        .into_iter()
        .filter(|(_, s)| !is_known_init(&s.name))
        .map(|(pid, s)| {
            let c = attrib.container_of(pid);
            let name = c
                .as_ref()
                .and_then(|c| c.name.clone().or(Some(c.id.chars().take(12).collect())));
            format!(
                "{} (pid {pid}{})",
                s.name,
                name.map_or(String::new(), |n| format!(", {n}"))
            )
        })
        .collect();
    out.push(Check {
        name: "zombie:pid1".into(),
        status: if inits.is_empty() {
            Status::Ok
        } else {
            Status::Warn
        },
        detail: if inits.is_empty() {
            "every pid namespace's PID 1 is a known init".into()
        } else {
            format!(
                "PID 1 is not a known init (zombies will not be reaped): {}",
                inits.join(", ")
            )
        },
    });
    let zombies = procfs::zombies_now();
    let mut by_parent: std::collections::BTreeMap<u32, usize> = Default::default();
    for (_, s) in &zombies {
        *by_parent.entry(s.ppid).or_default() += 1;
    }
    let parents: Vec<String> = by_parent
        .iter()
        .map(|(p, n)| {
            let comm = crate::node::proc_comm(*p).unwrap_or_else(|| "?".into());
            format!("{n} under pid {p} ({comm})")
        })
        .collect();
    out.push(Check {
        name: "zombie:now".into(),
        status: if zombies.is_empty() {
            Status::Ok
        } else {
            Status::Warn
        },
        detail: if zombies.is_empty() {
            "no zombies".into()
        } else {
            format!("{} zombies: {}", zombies.len(), parents.join(", "))
        },
    });
    out
}
