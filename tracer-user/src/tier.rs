//! Probe tiers. Every problem works on tracepoints (the tracepoint tier); seccomp and overlay
//! also have a kernel-function tier (fentry or kprobe) that measures what tracepoints can only
//! bound. The choice comes from feature probes run at start (load and attach for real), never
//! from the kernel version. CTRACE_TIER=tracepoint|kprobe|fentry forces one.

use serde::Serialize;

use crate::{attach::AttachType, problem::Problem};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    Tracepoint,
    Kprobe,
    Fentry,
}

impl Tier {
    pub fn name(self) -> &'static str {
        match self {
            Tier::Tracepoint => "tracepoint",
            Tier::Kprobe => "kprobe",
            Tier::Fentry => "fentry",
        }
    }
}

/// What the feature probes found: each kind loaded and attached on this kernel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Features {
    pub tracepoint: bool,
    pub fentry: bool,
    pub kprobe: bool,
}

impl Features {
    pub fn from_verdicts(v: &[(AttachType, Result<(), String>)]) -> Features {
        let ok = |at: AttachType| v.iter().any(|(a, r)| *a == at && r.is_ok());
        Features {
            tracepoint: ok(AttachType::Tracepoint)
                || ok(AttachType::RawTp)
                || ok(AttachType::TpBtf),
            fentry: ok(AttachType::Fentry),
            kprobe: ok(AttachType::Kprobe),
        }
    }

    fn has(self, t: Tier) -> bool {
        match t {
            Tier::Tracepoint => self.tracepoint,
            Tier::Kprobe => self.kprobe,
            Tier::Fentry => self.fentry,
        }
    }
}

/// Loads a throwaway object and tries each attach kind for real.
pub fn probe_features() -> anyhow::Result<Features> {
    let g = crate::attach::Globals {
        pid_max: 1,
        ..Default::default()
    };
    let mut ebpf = crate::attach::load(&g)?;
    Ok(Features::from_verdicts(&crate::attach::probe_attach_types(
        &mut ebpf,
    )))
}

/// The kernel-function tiers of a problem, best first. overlay's hook lives in the overlay
/// module, and aya 0.14 loads fentry against vmlinux BTF only: kprobe there.
pub fn kernel_tiers(p: Problem) -> &'static [Tier] {
    match p {
        Problem::Seccomp => &[Tier::Fentry, Tier::Kprobe],
        Problem::Overlay => &[Tier::Kprobe],
        Problem::Sigpipe | Problem::Sem | Problem::Zombie => &[],
    }
}

/// CTRACE_TIER: None for auto (unset, empty or "auto").
pub fn wished() -> Result<Option<Tier>, String> {
    match std::env::var("CTRACE_TIER").unwrap_or_default().as_str() {
        "" | "auto" => Ok(None),
        "tracepoint" => Ok(Some(Tier::Tracepoint)),
        "kprobe" => Ok(Some(Tier::Kprobe)),
        "fentry" => Ok(Some(Tier::Fentry)),
        other => Err(format!(
            "CTRACE_TIER={other} is not a tier (auto, tracepoint, kprobe or fentry)"
        )),
    }
}

/// Tiers to try for `p`, in order; what works first wins. A forced kernel tier that this
/// kernel refused is an error; a problem without the forced tier keeps its own order.
pub fn plan(p: Problem, f: Features, wish: Option<Tier>) -> Result<Vec<Tier>, String> {
    let offered = kernel_tiers(p);
    match wish {
        Some(Tier::Tracepoint) => Ok(vec![Tier::Tracepoint]),
        Some(t) if offered.contains(&t) => match f.has(t) {
            true => Ok(vec![t]),
            false => Err(format!(
                "{}: the {} tier was asked for (CTRACE_TIER) but {} programs do not attach on this kernel",
                p.name(),
                t.name(),
                t.name()
            )),
        },
        _ => Ok(offered
            .iter()
            .copied()
            .filter(|&t| f.has(t))
            .chain([Tier::Tracepoint])
            .collect()),
    }
}

/// The tier `p` would use with these features: the first of its plan.
#[cfg(test)]
pub fn choose(p: Problem, f: Features, wish: Option<Tier>) -> Result<Tier, String> {
    plan(p, f, wish).map(|v| v[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This host (6.18, locked down): tracepoints only; fentry fails with EPERM, no kprobes.
    const HOST_6_18: Features = Features {
        tracepoint: true,
        fentry: false,
        kprobe: false,
    };
    /// Debian 6.1 (no CONFIG_FPROBE, which no tier needs) and Debian 6.12: both kinds attach.
    const DEBIAN_6_1: Features = Features {
        tracepoint: true,
        fentry: true,
        kprobe: true,
    };
    const DEBIAN_6_12: Features = DEBIAN_6_1;

    #[test]
    fn host_uses_tracepoints_for_every_problem() {
        for p in Problem::ALL {
            assert_eq!(choose(p, HOST_6_18, None), Ok(Tier::Tracepoint), "{p:?}");
        }
    }

    #[test]
    fn debian_kernels_use_fentry_for_seccomp_and_kprobe_for_overlay() {
        for f in [DEBIAN_6_1, DEBIAN_6_12] {
            assert_eq!(choose(Problem::Seccomp, f, None), Ok(Tier::Fentry));
            assert_eq!(choose(Problem::Overlay, f, None), Ok(Tier::Kprobe));
            for p in [Problem::Sigpipe, Problem::Sem, Problem::Zombie] {
                assert_eq!(choose(p, f, None), Ok(Tier::Tracepoint));
            }
            // A failed attach at run time falls back down the plan.
            assert_eq!(
                plan(Problem::Seccomp, f, None).unwrap(),
                [Tier::Fentry, Tier::Kprobe, Tier::Tracepoint]
            );
        }
    }

    #[test]
    fn kprobe_only_kernel_uses_kprobe_for_seccomp() {
        let f = Features {
            fentry: false,
            ..DEBIAN_6_1
        };
        assert_eq!(choose(Problem::Seccomp, f, None), Ok(Tier::Kprobe));
    }

    #[test]
    fn forced_tiers() {
        let tp = Some(Tier::Tracepoint);
        assert_eq!(
            choose(Problem::Seccomp, DEBIAN_6_12, tp),
            Ok(Tier::Tracepoint)
        );
        let kp = Some(Tier::Kprobe);
        assert_eq!(choose(Problem::Seccomp, DEBIAN_6_12, kp), Ok(Tier::Kprobe));
        // overlay has no fentry tier: forcing fentry leaves it its own best.
        let fe = Some(Tier::Fentry);
        assert_eq!(choose(Problem::Overlay, DEBIAN_6_12, fe), Ok(Tier::Kprobe));
        let err = choose(Problem::Seccomp, HOST_6_18, fe).unwrap_err();
        assert!(err.contains("fentry") && !err.contains('\n'), "{err}");
    }
}
