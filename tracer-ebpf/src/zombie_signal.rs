//! zombie's second job of an init: signals. PID 1 of a pid namespace gets no default action for a
//! signal it has no handler for, so a SIGTERM from `docker stop` is dropped (signal_generate
//! reports it ignored) and the SIGKILL comes after the stop timeout. Decided here, at the
//! signal, from the target task: its pid in its own namespace is 1 (BTF offsets).

use aya_ebpf::{
    helpers::{bpf_ktime_get_ns, bpf_probe_read_kernel},
    macros::{map, raw_tracepoint},
    maps::HashMap,
    programs::RawTracePointContext,
};
use tracer_common::zombie::kind;

use crate::{origin, zombie::emit};

const SIGINT: u64 = 2;
const SIGKILL: u64 = 9;
const SIGTERM: u64 = 15;
/// TRACE_SIGNAL_IGNORED in the kernel's signal_generate result.
const RESULT_IGNORED: u64 = 1;

/// Host pid of an init whose SIGTERM/SIGINT was dropped -> when (ns), until its SIGKILL.
#[map]
static INIT_DROPS: HashMap<u32, u64> = HashMap::with_max_entries(4096, 0);

#[inline(always)]
fn read<T>(base: u64, off: u32) -> Option<T> {
    if base == 0 {
        return None;
    }
    unsafe { bpf_probe_read_kernel((base + off as u64) as *const T) }.ok()
}

/// (host pid, pid in its own namespace, namespace depth) of a task; upid.nr is at offset 0.
#[inline(always)]
fn pids(task: u64) -> Option<(u32, u32, u32)> {
    let off = origin::offsets();
    if off.task_thread_pid == 0 || off.upid_size == 0 {
        return None;
    }
    let pid = read::<u64>(task, off.task_thread_pid)?;
    let level = read::<u32>(pid, off.pid_level)? & 0x1f;
    let host = read::<u32>(pid, off.pid_numbers)?;
    let inner = read::<u32>(pid, off.pid_numbers + level * off.upid_size)?;
    Some((host, inner, level))
}

// signal_generate(int sig, struct kernel_siginfo *info, struct task_struct *task, int group,
// int result)
#[raw_tracepoint(tracepoint = "signal_generate")]
pub fn zombie_signal(ctx: RawTracePointContext) -> i32 {
    let sig = ctx.arg::<u64>(0) & 0xffff_ffff;
    if sig != SIGTERM && sig != SIGINT && sig != SIGKILL {
        return 0;
    }
    let Some((host, inner, level)) = pids(ctx.arg::<u64>(2)) else {
        return 0;
    };
    if sig == SIGKILL {
        if unsafe { INIT_DROPS.get(host) }.is_some() {
            let _ = INIT_DROPS.remove(host);
            emit(
                kind::INIT_KILLED,
                host,
                [0; 16],
                origin::current(),
                sig as u32,
            );
        }
        return 0;
    }
    if level == 0 || inner != 1 || ctx.arg::<u64>(4) & 0xffff_ffff != RESULT_IGNORED {
        return 0;
    }
    let _ = INIT_DROPS.insert(host, unsafe { bpf_ktime_get_ns() }, 0);
    emit(
        kind::INIT_SIGNAL_DROPPED,
        host,
        [0; 16],
        origin::current(),
        sig as u32,
    );
    0
}
