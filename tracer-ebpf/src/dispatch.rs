//! One program on `sys_enter` and one on `sys_exit` for every syscall-based problem (seccomp,
//! sem, sigpipe, overlay). The interest table, indexed by syscall number, is read first: a call
//! no asked problem wants costs one load. Each problem's handler is inlined from its own file.
//! Problems not asked are off through load-time globals, so the verifier drops their code.
//!
//! Offered as tp_btf, raw_tp and (last resort) the classic raw_syscalls tracepoint; user space
//! attaches the first that works. No per-syscall `syscalls:sys_*` tracepoint is used: enabling
//! one registers the kernel's perf handlers on every syscall and breaks the direct static call.

use aya_ebpf::{
    EbpfContext, Global,
    helpers::{bpf_get_current_pid_tgid, bpf_probe_read_kernel},
    macros::{btf_tracepoint, raw_tracepoint, tracepoint},
    programs::{BtfTracePointContext, RawTracePointContext, TracePointContext},
};
use tracer_common::syscalls::{REGS_NR_OFFSET, SECCOMP_COUNT, TABLE_LEN, want};

use crate::{
    filter::traced,
    overlay, seccomp, sem, sigpipe,
    syscall::{Enter, Exit, Regs},
};

/// `want` bits of the problems asked.
#[unsafe(no_mangle)]
static SYSCALL_WANT: Global<u32> = Global::new(0);
/// `SECCOMP_LATENCY` or `SECCOMP_COUNT`.
#[unsafe(no_mangle)]
static SECCOMP_MODE: Global<u32> = Global::new(0);

/// The interest table (tracer_common::syscalls::INTEREST), in .rodata: one load per syscall.
static INTEREST: [u8; TABLE_LEN] = tracer_common::syscalls::INTEREST;

#[inline(always)]
fn interest(nr: i64) -> u8 {
    if nr < 0 || nr >= TABLE_LEN as i64 {
        return want::SECCOMP;
    }
    INTEREST.get(nr as usize).copied().unwrap_or(want::SECCOMP)
}

/// Whether `bit` is asked (a load-time constant: the verifier prunes the rest) and wanted.
#[inline(always)]
fn on(bits: u8, bit: u8) -> bool {
    SYSCALL_WANT.load() as u8 & bit != 0 && bits & bit != 0
}

#[inline(always)]
fn seccomp_counts() -> bool {
    SECCOMP_MODE.load() == SECCOMP_COUNT
}

#[inline(always)]
fn on_enter<C: EbpfContext>(ctx: &C, nr: i64, regs: Regs) {
    let bits = interest(nr) & SYSCALL_WANT.load() as u8;
    if bits == 0 {
        return;
    }
    let pid_tgid = bpf_get_current_pid_tgid();
    let Some(tgid) = traced(pid_tgid) else {
        return;
    };
    let call = Enter {
        pid_tgid,
        tgid,
        nr,
        regs,
    };
    if on(bits, want::SECCOMP) {
        match seccomp_counts() {
            true => seccomp::on_count(ctx, &call),
            false => seccomp::on_enter(ctx, &call),
        }
    }
    if on(bits, want::SEM) {
        sem::on_enter(&call);
    }
    if on(bits, want::SIGPIPE) {
        sigpipe::on_enter(&call);
    }
    // Last: overlay ends in a tail call.
    if on(bits, want::OVERLAY) {
        overlay::on_enter(ctx, &call);
    }
}

/// `nr` is read only when a problem other than seccomp (which wants every exit) is asked.
#[inline(always)]
fn on_exit<C: EbpfContext>(ctx: &C, nr: impl Fn() -> i64, ret: i64) {
    let asked = SYSCALL_WANT.load() as u8;
    let latency = asked & want::SECCOMP != 0 && !seccomp_counts();
    let others = asked & !want::SECCOMP;
    let (nr, bits) = match others {
        0 => (-1, 0),
        _ => {
            let nr = nr();
            (nr, interest(nr) & others)
        }
    };
    if !latency && bits == 0 {
        return;
    }
    let call = Exit {
        pid_tgid: bpf_get_current_pid_tgid(),
        nr,
        ret,
    };
    if latency {
        seccomp::on_exit(ctx, &call);
    }
    if on(bits, want::SEM) {
        sem::on_exit(&call);
    }
    if on(bits, want::SIGPIPE) {
        sigpipe::on_exit(&call);
    }
    if on(bits, want::OVERLAY) {
        overlay::on_exit(&call);
    }
}

// tp_btf and raw_tp: sys_enter(struct pt_regs *regs, long id), sys_exit(regs, long ret).

#[btf_tracepoint(function = "sys_enter")]
pub fn sys_enter_btf(ctx: BtfTracePointContext) -> i32 {
    on_enter(&ctx, ctx.arg::<i64>(1), Regs::Saved(ctx.arg::<u64>(0)));
    0
}

#[btf_tracepoint(function = "sys_exit")]
pub fn sys_exit_btf(ctx: BtfTracePointContext) -> i32 {
    // A typed pointer here: the verifier allows a plain load of regs->orig_ax, no helper.
    let regs: *const u8 = ctx.arg(0);
    let nr = || unsafe { *(regs.wrapping_add(REGS_NR_OFFSET) as *const i64) };
    on_exit(&ctx, nr, ctx.arg::<i64>(1));
    0
}

#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn sys_enter_raw(ctx: RawTracePointContext) -> i32 {
    on_enter(&ctx, ctx.arg::<i64>(1), Regs::Saved(ctx.arg::<u64>(0)));
    0
}

#[raw_tracepoint(tracepoint = "sys_exit")]
pub fn sys_exit_raw(ctx: RawTracePointContext) -> i32 {
    let regs = ctx.arg::<u64>(0);
    let nr = || {
        let p = (regs + REGS_NR_OFFSET as u64) as *const i64;
        unsafe { bpf_probe_read_kernel(p) }.unwrap_or(-1)
    };
    on_exit(&ctx, nr, ctx.arg::<i64>(1));
    0
}

// Classic raw_syscalls/sys_enter and sys_exit: `long id` at 8; args[6] or `long ret` from 16.

#[tracepoint(category = "raw_syscalls", name = "sys_enter")]
pub fn sys_enter_tp(ctx: TracePointContext) -> u32 {
    if let Ok(nr) = unsafe { ctx.read_at::<i64>(8) } {
        on_enter(&ctx, nr, Regs::Record(ctx.as_ptr() as *const u8));
    }
    0
}

#[tracepoint(category = "raw_syscalls", name = "sys_exit")]
pub fn sys_exit_tp(ctx: TracePointContext) -> u32 {
    let nr = || unsafe { ctx.read_at::<i64>(8) }.unwrap_or(-1);
    if let Ok(ret) = unsafe { ctx.read_at::<i64>(16) } {
        on_exit(&ctx, nr, ret);
    }
    0
}
