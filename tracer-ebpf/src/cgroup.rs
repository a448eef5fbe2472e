//! Cgroups born in the unified hierarchy, for user space's cgroup id -> container map: a
//! container's cgroup is known (and the container named) from its birth, before its first
//! event, and after it is gone.

use aya_ebpf::{
    EbpfContext,
    helpers::bpf_probe_read_kernel_str_bytes,
    macros::{map, tracepoint},
    maps::RingBuf,
    programs::TracePointContext,
};
use tracer_common::origin::CgroupBirth;

#[map]
static CGROUP_EVENTS: RingBuf = RingBuf::with_byte_size(64 * 1024, 0);

// The record: int root @8, int level @12, u64 id @16, __data_loc char[] path @24 (stable since
// the tracepoint's addition in 4.14 besides id's width, which user space checks at load).
#[tracepoint(category = "cgroup", name = "cgroup_mkdir")]
pub fn cgroup_mkdir(ctx: TracePointContext) -> u32 {
    // The unified hierarchy is hierarchy 0; v1 hierarchies' ids are not the probes'.
    if unsafe { ctx.read_at::<i32>(8) } != Ok(0) {
        return 0;
    }
    let (Ok(level), Ok(id), Ok(loc)) = (
        unsafe { ctx.read_at::<i32>(12) },
        unsafe { ctx.read_at::<u64>(16) },
        unsafe { ctx.read_at::<u32>(24) },
    ) else {
        return 0;
    };
    let Some(mut slot) = CGROUP_EVENTS.reserve::<CgroupBirth>(0) else {
        return 0;
    };
    let out = slot.as_mut_ptr();
    unsafe {
        (*out).id = id;
        (*out).level = level as u32;
        (*out)._pad = 0;
        let src = (ctx.as_ptr() as *const u8).wrapping_add((loc & 0xffff) as usize);
        if bpf_probe_read_kernel_str_bytes(src, &mut (*out).path).is_err() {
            (*out).path[0] = 0;
        }
    }
    slot.submit(0);
    0
}
