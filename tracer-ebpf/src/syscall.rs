//! A syscall as the dispatcher hands it to each problem's handlers: its entry (with where to
//! read its arguments) or its exit, and the slot of its thread in the in-flight arrays. Below
//! both the dispatcher and the handlers, so neither imports the other's file for it.

use aya_ebpf::{Global, helpers::bpf_probe_read_kernel};
use tracer_common::syscalls::{REGS_ARG_INDEX, REGS_ARGS_SPAN};

/// Slots of the tid-hashed in-flight arrays minus one: a thread's slot is `tid & mask`.
#[unsafe(no_mangle)]
static INFLIGHT_MASK: Global<u32> = Global::new(0);

/// The slot of a thread in the in-flight arrays (SYS_START, WRITE_ARGS); the slot's `tid` says
/// whose record it holds.
#[inline(always)]
pub fn inflight_slot(tid: u32) -> u32 {
    tid & INFLIGHT_MASK.load()
}

/// Where a call's arguments are read from.
#[derive(Clone, Copy)]
pub enum Regs {
    /// tp_btf and raw_tp: the task's saved `struct pt_regs`.
    Saved(u64),
    /// The classic raw_syscalls/sys_enter record: `long id` at 8, `args[6]` from 16.
    Record(*const u8),
}

impl Regs {
    /// The six arguments, in one read; only handlers that need them pay for it.
    #[inline(always)]
    pub fn args(self) -> [u64; 6] {
        match self {
            Regs::Saved(p) => {
                let span = (p + REGS_ARGS_SPAN.0 as u64) as *const [u64; REGS_ARGS_SPAN.1 / 8];
                let s = unsafe { bpf_probe_read_kernel(span) }.unwrap_or_default();
                let i = REGS_ARG_INDEX;
                [s[i[0]], s[i[1]], s[i[2]], s[i[3]], s[i[4]], s[i[5]]]
            }
            Regs::Record(ctx) => {
                unsafe { bpf_probe_read_kernel(ctx.wrapping_add(16) as *const [u64; 6]) }
                    .unwrap_or_default()
            }
        }
    }
}

/// A syscall entry of a traced task.
#[derive(Clone, Copy)]
pub struct Enter {
    pub pid_tgid: u64,
    pub tgid: u32,
    pub nr: i64,
    pub regs: Regs,
}

/// A syscall exit (of any task: the handlers pair it with their own entry records).
#[derive(Clone, Copy)]
pub struct Exit {
    pub pid_tgid: u64,
    pub nr: i64,
    pub ret: i64,
}
