//! Tiny programs that `ctrace doctor` loads to learn which attach types really work here,
//! and the empty sys_enter/sys_exit pair that `ctrace bench overhead` measures as the floor.

use aya_ebpf::{
    macros::{btf_tracepoint, fentry, kprobe, raw_tracepoint, tracepoint},
    programs::{
        BtfTracePointContext, FEntryContext, ProbeContext, RawTracePointContext, TracePointContext,
    },
};

#[tracepoint]
pub fn probe_tp(_ctx: TracePointContext) -> u32 {
    0
}

#[raw_tracepoint]
pub fn probe_raw_tp(_ctx: RawTracePointContext) -> i32 {
    0
}

#[btf_tracepoint]
pub fn probe_tp_btf(_ctx: BtfTracePointContext) -> i32 {
    0
}

#[fentry]
pub fn probe_fentry(_ctx: FEntryContext) -> u32 {
    0
}

#[kprobe]
pub fn probe_kprobe(_ctx: ProbeContext) -> u32 {
    0
}

#[raw_tracepoint]
pub fn floor_enter(_ctx: RawTracePointContext) -> i32 {
    0
}

#[raw_tracepoint]
pub fn floor_exit(_ctx: RawTracePointContext) -> i32 {
    0
}
