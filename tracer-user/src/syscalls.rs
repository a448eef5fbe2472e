//! The syscall dispatcher: one program on `sys_enter` and (when a problem pairs calls) one on
//! `sys_exit` serve seccomp, sem, sigpipe and overlay. Which problems it runs is fixed at load
//! time (`want`); it attaches at the cheapest tier this kernel accepts. No per-syscall
//! `syscalls:sys_*` tracepoint is ever attached.

use std::{cell::RefCell, rc::Rc};

use anyhow::{Context as _, Result, anyhow};
use aya::{
    Ebpf,
    maps::{Array, MapData, ProgramArray},
};
use tracer_common::{
    seccomp::EPOCH,
    syscalls::{SECCOMP_COUNT, SECCOMP_LATENCY, want},
};

use crate::{
    attach::{self, AttachType, Attachment, Target},
    probe_info::ProbeInfo,
    problem::Problem,
};

/// The dispatcher as the problems riding it hold it (seccomp's duty cycle detaches it).
pub type Shared = Rc<RefCell<Dispatcher>>;

/// Tiers in order of preference; all three work without kprobes or fentry.
pub const TIERS: [AttachType; 3] = [AttachType::TpBtf, AttachType::RawTp, AttachType::Tracepoint];

/// The tiers to try: all of them, or the one `CTRACE_SYSCALL_ATTACH` names (`tp_btf`,
/// `raw_tp`, `tracepoint`), so that tests can run the fallbacks on a kernel that has tp_btf.
fn tiers() -> Result<Vec<AttachType>> {
    match std::env::var("CTRACE_SYSCALL_ATTACH")
        .unwrap_or_default()
        .as_str()
    {
        "" | "auto" => Ok(TIERS.to_vec()),
        name => TIERS
            .into_iter()
            .find(|t| t.name() == name)
            .map(|t| vec![t])
            .ok_or_else(|| {
                anyhow!("CTRACE_SYSCALL_ATTACH={name} is not tp_btf, raw_tp or tracepoint")
            }),
    }
}

/// The `want` bits of the asked problems that ride on syscalls (zombie does not).
pub fn want_of(asked: impl IntoIterator<Item = Problem>) -> u32 {
    let bits = asked.into_iter().fold(0, |w, p| {
        w | match p {
            Problem::Seccomp => want::SECCOMP,
            Problem::Sem => want::SEM,
            Problem::Sigpipe => want::SIGPIPE,
            Problem::Overlay => want::OVERLAY,
            Problem::Zombie => 0,
        }
    });
    u32::from(bits)
}

pub fn seccomp_mode(count_only: bool) -> u32 {
    match count_only {
        true => SECCOMP_COUNT,
        false => SECCOMP_LATENCY,
    }
}

/// Only seccomp's count mode leaves exits alone.
fn needs_exit(want_bits: u32, mode: u32) -> bool {
    let w = want_bits as u8;
    w & !want::SECCOMP != 0 || (w & want::SECCOMP != 0 && mode != SECCOMP_COUNT)
}

fn programs(at: AttachType, exit: bool) -> Vec<(&'static str, &'static str)> {
    let (enter, leave) = match at {
        AttachType::TpBtf => ("sys_enter_btf", "sys_exit_btf"),
        AttachType::RawTp => ("sys_enter_raw", "sys_exit_raw"),
        _ => ("sys_enter_tp", "sys_exit_tp"),
    };
    let mut v = vec![(enter, "sys_enter")];
    if exit {
        v.push((leave, "sys_exit"));
    }
    v
}

/// Loads overlay's walk program of the dispatcher's type and puts it where the dispatcher's
/// tail call finds it. A tail call stays within one program type, hence one per tier.
fn overlay_walk(ebpf: &mut Ebpf, tier: AttachType) -> Result<()> {
    let program = match tier {
        AttachType::TpBtf => "overlay_walk_btf",
        AttachType::RawTp => "overlay_walk_raw",
        _ => "overlay_walk_tp",
    };
    attach::load_only(ebpf, program, tier, "sys_enter")
        .with_context(|| format!("loading overlay's dentry walk ({program})"))?;
    let fd = ebpf
        .program(program)
        .ok_or_else(|| anyhow!("{program} is missing"))?
        .fd()?
        .try_clone()?;
    let map = ebpf
        .map_mut(tracer_common::overlay::WALK_PROGRAMS)
        .ok_or_else(|| anyhow!("the overlay walk's program array is missing"))?;
    let mut slots: ProgramArray<&mut MapData> = ProgramArray::try_from(map)?;
    slots.set(0, &fd, 0)?;
    Ok(())
}

/// The attached dispatcher; detachable for the duty cycle.
pub struct Dispatcher {
    pub tier: AttachType,
    /// Problems other than seccomp ride on it: the duty cycle pauses seccomp instead of
    /// detaching.
    pub shared: bool,
    /// overlay's dentry walk is a program of its own, reached by a tail call.
    overlay: bool,
    exit: bool,
    links: Vec<Attachment>,
}

impl Dispatcher {
    /// Attaches at the first tier that works, for the `want_bits` the object was loaded with.
    pub fn attach(ebpf: &mut Ebpf, want_bits: u32, mode: u32) -> Result<Dispatcher> {
        let mut errors = Vec::new();
        for tier in tiers()? {
            let mut d = Dispatcher {
                tier,
                shared: want_bits as u8 & !want::SECCOMP != 0,
                overlay: want_bits as u8 & want::OVERLAY != 0,
                exit: needs_exit(want_bits, mode),
                links: Vec::new(),
            };
            match d.attach_links(ebpf) {
                Ok(()) => return Ok(d),
                Err(e) => {
                    log::debug!("syscalls: {} failed: {e:#}", tier.name());
                    d.detach(ebpf);
                    errors.push(format!("{}: {e:#}", tier.name()));
                }
            }
        }
        Err(anyhow!(
            "syscall probes: no attach type works on this kernel ({})",
            errors.join("; ")
        ))
    }

    fn attach_links(&mut self, ebpf: &mut Ebpf) -> Result<()> {
        if self.overlay {
            overlay_walk(ebpf, self.tier)?;
        }
        for (program, tp) in programs(self.tier, self.exit) {
            let target = Target {
                category: "raw_syscalls",
                name: tp,
            };
            self.links
                .push(attach::attach(ebpf, program, self.tier, target)?);
        }
        Ok(())
    }

    pub fn program_names(&self) -> Vec<String> {
        programs(self.tier, self.exit)
            .into_iter()
            .map(|(p, _)| p.to_string())
            .collect()
    }

    pub fn attached(&self) -> bool {
        !self.links.is_empty()
    }

    /// The duty cycle's off part: detach, or pause seccomp when others share the programs.
    pub fn pause_seccomp(&mut self, ebpf: &mut Ebpf) -> Result<()> {
        match self.shared {
            true => set_epoch(ebpf, 1, 1),
            false => {
                self.detach(ebpf);
                Ok(())
            }
        }
    }

    /// The duty cycle's on part. Syscalls entered before now are void: their exits were
    /// missed while detached or paused, and must not pair with the next call's.
    pub fn resume_seccomp(&mut self, ebpf: &mut Ebpf) -> Result<()> {
        set_epoch(ebpf, 0, mono_ns())?;
        set_epoch(ebpf, 1, 0)?;
        if self.attached() {
            return Ok(());
        }
        self.attach_links(ebpf)
    }

    pub fn detach(&mut self, ebpf: &mut Ebpf) {
        for link in self.links.drain(..) {
            if let Err(e) = attach::detach(ebpf, link) {
                log::warn!("syscalls: detach failed: {e:#}");
            }
        }
    }
}

/// The probes of a problem that rides on the dispatcher (tier "tracepoint": no kernel tier).
pub fn probe_info(problem: &str, d: Option<&Shared>) -> ProbeInfo {
    let d = d.and_then(|d| d.try_borrow().ok());
    ProbeInfo {
        problem: problem.into(),
        attach_type: d
            .as_ref()
            .map_or(AttachType::Tracepoint, |d| d.tier)
            .name()
            .into(),
        tier: "tracepoint".into(),
        programs: d.map(|d| d.program_names()).unwrap_or_default(),
    }
}

fn mono_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn set_epoch(ebpf: &mut Ebpf, index: u32, value: u64) -> Result<()> {
    let map = ebpf
        .map_mut(EPOCH)
        .ok_or_else(|| anyhow!("map {EPOCH} missing"))?;
    Array::<&mut MapData, u64>::try_from(map)?.set(index, value, 0)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exits_only_when_a_problem_pairs_calls() {
        let seccomp = want_of([Problem::Seccomp]);
        assert!(!needs_exit(seccomp, SECCOMP_COUNT));
        assert!(needs_exit(seccomp, SECCOMP_LATENCY));
        assert!(needs_exit(want_of([Problem::Sem]), SECCOMP_COUNT));
        assert_eq!(want_of([Problem::Zombie]), 0);
    }
}
