//! Loading the probe object and attaching its programs by attach type, with explicit detach.

use std::sync::OnceLock;

use anyhow::{Context as _, Result, anyhow};
use aya::{
    Btf, Ebpf, EbpfLoader,
    programs::{
        BtfTracePoint, FEntry, FExit, KProbe, Program, RawTracePoint, TracePoint,
        fentry::FEntryLinkId, fexit::FExitLinkId, kprobe::KProbeLinkId,
        raw_trace_point::RawTracePointLinkId, tp_btf::BtfTracePointLinkId,
        trace_point::TracePointLinkId,
    },
};
use serde::Serialize;

/// The probe object, built from `tracer-ebpf` by build.rs.
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/tracer"));

#[cfg(test)]
pub fn object() -> &'static [u8] {
    OBJECT
}

/// How a program hooks into the kernel, cheapest per hit first among the tracepoint kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum AttachType {
    #[serde(rename = "tp_btf")]
    TpBtf,
    #[serde(rename = "raw_tp")]
    RawTp,
    #[serde(rename = "tracepoint")]
    Tracepoint,
    #[serde(rename = "fentry")]
    Fentry,
    #[serde(rename = "kprobe")]
    Kprobe,
    /// The exit half of the fentry tier (kretprobes are `Kprobe`: aya tells them apart).
    #[serde(rename = "fexit")]
    Fexit,
}

impl AttachType {
    pub const ALL: [AttachType; 5] = [
        AttachType::Tracepoint,
        AttachType::RawTp,
        AttachType::TpBtf,
        AttachType::Fentry,
        AttachType::Kprobe,
    ];
    pub fn name(self) -> &'static str {
        match self {
            AttachType::TpBtf => "tp_btf",
            AttachType::RawTp => "raw_tp",
            AttachType::Tracepoint => "tracepoint",
            AttachType::Fentry => "fentry",
            AttachType::Kprobe => "kprobe",
            AttachType::Fexit => "fexit",
        }
    }
}

/// Where to attach: a tracepoint (category, name) or a kernel function.
#[derive(Clone, Copy, Debug)]
pub struct Target {
    pub category: &'static str,
    pub name: &'static str,
}

enum LinkHandle {
    Btf(BtfTracePointLinkId),
    Raw(RawTracePointLinkId),
    Tp(TracePointLinkId),
    FEntry(FEntryLinkId),
    KProbe(KProbeLinkId),
    FExit(FExitLinkId),
}

/// One attached program; `detach` undoes it (dropping the `Ebpf` also detaches everything).
pub struct Attachment {
    pub program: &'static str,
    pub attach_type: AttachType,
    link: LinkHandle,
}

pub fn kernel_btf() -> Result<&'static Btf> {
    static BTF: OnceLock<Option<Btf>> = OnceLock::new();
    BTF.get_or_init(|| Btf::from_sys_fs().ok())
        .as_ref()
        .ok_or_else(|| anyhow!("kernel BTF (/sys/kernel/btf/vmlinux) is not available"))
}

pub use crate::globals::Globals;

pub fn load(g: &Globals) -> Result<Ebpf> {
    use tracer_common::{names, syscalls};
    let btf = kernel_btf().ok();
    let inflight_mask = crate::map_sizes::inflight_slots(g.pid_max) - 1;
    let ovl_offsets = crate::btf_offsets::overlay();
    let work_at = crate::btf_offsets::seccomp_work_at();
    let walk_steps = crate::btf_offsets::overlay_walk_steps()?;
    let walk_whole = crate::btf_offsets::overlay_walk_whole();
    let mut loader = EbpfLoader::new();
    loader
        .btf(btf)
        .override_global(names::SELF_TGID, &g.self_tgid, true)
        .override_global(names::FILTER_FLAGS, &g.filter_flags, true)
        .override_global(names::FORK_CHILD_PID_OFFSET, &g.fork_child_pid_offset, true)
        .override_global(
            names::EXIT_GROUP_DEAD_OFFSET,
            &g.exit_group_dead_offset,
            true,
        )
        .override_global(aya_log::LEVEL, &g.log_level, false)
        .override_global(syscalls::WANT, &g.syscall_want, true)
        .override_global(syscalls::SECCOMP_MODE, &g.seccomp_mode, true)
        .override_global(
            tracer_common::zombie::FREE_PID_OFFSET,
            &g.free_pid_offset,
            true,
        )
        .override_global(syscalls::INFLIGHT_MASK, &inflight_mask, true)
        .override_global(tracer_common::overlay::OFFSETS, &ovl_offsets, true)
        .override_global(tracer_common::seccomp::WORK_AT, &work_at, true)
        .override_global(
            tracer_common::seccomp::FILTER_TEXT,
            &g.seccomp_filter_text,
            true,
        )
        .override_global(tracer_common::overlay::WALK_STEPS, &walk_steps, true)
        .override_global(tracer_common::overlay::WALK_WHOLE, &walk_whole, true)
        .override_global(tracer_common::origin::OFFSETS, &g.origin_offsets, true);
    crate::map_sizes::apply(&mut loader, g);
    let (obj, preallocated) =
        crate::prealloc::object_for(OBJECT, crate::prealloc::runtime_alloc_is_safe())?;
    if !preallocated.is_empty() {
        log::debug!("maps preallocated (no run-time allocation here): {preallocated:?}");
    }
    // aya reads the object in place: an owned copy must keep the alignment of the original.
    let aligned: Vec<u64>;
    let bytes: &[u8] = match obj {
        std::borrow::Cow::Borrowed(b) => b,
        std::borrow::Cow::Owned(v) => {
            aligned = aligned_copy(&v);
            // SAFETY: `aligned` holds at least `v.len()` initialised bytes and lives to the end
            // of this function; u64 has no invalid bit patterns as bytes.
            unsafe { std::slice::from_raw_parts(aligned.as_ptr().cast::<u8>(), v.len()) }
        }
    };
    loader.load(bytes).context("loading the eBPF object")
}

/// `b` in 8-byte aligned storage.
fn aligned_copy(b: &[u8]) -> Vec<u64> {
    let mut v = vec![0u64; b.len().div_ceil(8)];
    for (w, chunk) in v.iter_mut().zip(b.chunks(8)) {
        let mut word = [0u8; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        *w = u64::from_ne_bytes(word);
    }
    v
}

fn prog<'a, T>(ebpf: &'a mut Ebpf, name: &str) -> Result<&'a mut T>
where
    &'a mut T: TryFrom<&'a mut Program, Error = aya::programs::ProgramError>,
{
    let p = ebpf
        .program_mut(name)
        .ok_or_else(|| anyhow!("program {name} is missing from the eBPF object"))?;
    p.try_into()
        .map_err(|e| anyhow!("program {name} has the wrong type: {e}"))
}

fn loaded(p: &Program) -> bool {
    p.fd().is_ok()
}

/// Loads (once) `program` of a tracepoint kind, for `target`, without attaching it: a tail
/// call's destination.
pub fn load_only(ebpf: &mut Ebpf, program: &str, at: AttachType, target: &str) -> Result<()> {
    if ebpf.program(program).is_some_and(loaded) {
        return Ok(());
    }
    match at {
        AttachType::TpBtf => prog::<BtfTracePoint>(ebpf, program)?.load(target, kernel_btf()?)?,
        AttachType::RawTp => prog::<RawTracePoint>(ebpf, program)?.load()?,
        _ => prog::<TracePoint>(ebpf, program)?.load()?,
    }
    Ok(())
}

/// Loads (once) and attaches `program` as `at` to `target`.
pub fn attach(
    ebpf: &mut Ebpf,
    program: &'static str,
    at: AttachType,
    target: Target,
) -> Result<Attachment> {
    let is_loaded = ebpf.program(program).is_some_and(loaded);
    let link = match at {
        AttachType::TpBtf => {
            let p: &mut BtfTracePoint = prog(ebpf, program)?;
            if !is_loaded {
                p.load(target.name, kernel_btf()?)?;
            }
            LinkHandle::Btf(p.attach()?)
        }
        AttachType::RawTp => {
            let p: &mut RawTracePoint = prog(ebpf, program)?;
            if !is_loaded {
                p.load()?;
            }
            LinkHandle::Raw(p.attach(target.name)?)
        }
        AttachType::Tracepoint => {
            let p: &mut TracePoint = prog(ebpf, program)?;
            if !is_loaded {
                p.load()?;
            }
            LinkHandle::Tp(p.attach(target.category, target.name)?)
        }
        AttachType::Fentry => {
            let p: &mut FEntry = prog(ebpf, program)?;
            if !is_loaded {
                p.load(target.name, kernel_btf()?)?;
            }
            LinkHandle::FEntry(p.attach()?)
        }
        AttachType::Fexit => {
            let p: &mut FExit = prog(ebpf, program)?;
            if !is_loaded {
                p.load(target.name, kernel_btf()?)?;
            }
            LinkHandle::FExit(p.attach()?)
        }
        AttachType::Kprobe => {
            let p: &mut KProbe = prog(ebpf, program)?;
            if !is_loaded {
                p.load()?;
            }
            LinkHandle::KProbe(p.attach(target.name, 0)?)
        }
    };
    Ok(Attachment {
        program,
        attach_type: at,
        link,
    })
}

pub fn detach(ebpf: &mut Ebpf, a: Attachment) -> Result<()> {
    let name = a.program;
    match a.link {
        LinkHandle::Btf(id) => prog::<BtfTracePoint>(ebpf, name)?.detach(id)?,
        LinkHandle::Raw(id) => prog::<RawTracePoint>(ebpf, name)?.detach(id)?,
        LinkHandle::Tp(id) => prog::<TracePoint>(ebpf, name)?.detach(id)?,
        LinkHandle::FEntry(id) => prog::<FEntry>(ebpf, name)?.detach(id)?,
        LinkHandle::KProbe(id) => prog::<KProbe>(ebpf, name)?.detach(id)?,
        LinkHandle::FExit(id) => prog::<FExit>(ebpf, name)?.detach(id)?,
    }
    Ok(())
}

/// Tries each attach type with a tiny program and keeps the verdicts: what works is learned by
/// doing it, never guessed from the kernel version.
pub fn probe_attach_types(ebpf: &mut Ebpf) -> Vec<(AttachType, Result<(), String>)> {
    AttachType::ALL
        .iter()
        .map(|&at| {
            let (program, target) = match at {
                AttachType::Tracepoint => (
                    "probe_tp",
                    Target {
                        category: "raw_syscalls",
                        name: "sys_enter",
                    },
                ),
                AttachType::RawTp => (
                    "probe_raw_tp",
                    Target {
                        category: "",
                        name: "sys_enter",
                    },
                ),
                AttachType::TpBtf => (
                    "probe_tp_btf",
                    Target {
                        category: "",
                        name: "sys_enter",
                    },
                ),
                AttachType::Fentry => (
                    "probe_fentry",
                    Target {
                        category: "",
                        name: "vfs_read",
                    },
                ),
                AttachType::Kprobe | AttachType::Fexit => (
                    "probe_kprobe",
                    Target {
                        category: "",
                        name: "vfs_read",
                    },
                ),
            };
            let verdict = attach(ebpf, program, at, target)
                .and_then(|a| detach(ebpf, a))
                .map_err(|e| format!("{e:#}"));
            (at, verdict)
        })
        .collect()
}
