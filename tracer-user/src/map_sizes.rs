//! How large each kernel map is made at load, and what the maps can take at most.
//!
//! aya 0.14 creates every map of the object, even one that only pruned code refers to, so the
//! maps of problems not asked are made 1-entry stubs (ring buffers: one page). The asked ones get
//! their caps: the in-flight arrays are tid-hashed (`pid_max` slots, at most 65,536), and the
//! per-(process, syscall) maps take `--max-syscall-keys`, by default as many as 8 MiB of
//! per-CPU histograms hold on this node's CPUs.

use aya::EbpfLoader;
use tracer_common::{
    filter::BY_PID,
    overlay::OverlayEvent,
    seccomp::{SysHist, SysKey},
    syscalls::{MAX_INFLIGHT_SLOTS, SECCOMP_COUNT, want},
};

use crate::globals::Globals;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Array,
    PerCpuArray,
    /// Preallocated hash.
    Hash,
    /// LRU hash (always preallocated).
    Lru,
    /// BPF_F_NO_PREALLOC: elements are allocated on insert.
    HashNoPrealloc,
    PerCpuHashNoPrealloc,
    RingBuf,
}

/// One map of the object: what it is and which problem it serves ("filter": all of them).
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    pub name: &'static str,
    pub problem: &'static str,
    pub kind: Kind,
    pub key: usize,
    pub value: usize,
    /// Entries at load (ring buffers: bytes).
    pub entries: u32,
}

/// The per-(process, syscall) histograms of all CPUs fit this budget by default.
const KEYS_BUDGET: u64 = 8 << 20;
const MIN_KEYS: u32 = 1024;
const MAX_KEYS: u32 = tracer_common::seccomp::MAX_KEYS;
/// One page: the smallest ring buffer.
const RING_STUB: u32 = 4096;

/// Possible CPUs: what the kernel sizes per-CPU maps by (not this thread's affinity).
pub fn cpus() -> u32 {
    aya::util::nr_cpus().map_or(1, |n| n as u32)
}

/// Kernel memory one (process, syscall) pair takes: a histogram per CPU, and its hash entry.
pub fn bytes_per_key(cpus: u32) -> u64 {
    u64::from(cpus.max(1)) * std::mem::size_of::<SysHist>() as u64 + 64
}

/// Default `--max-syscall-keys`: a power of two between 1,024 and 65,536.
pub fn default_keys(cpus: u32) -> u32 {
    let per_key = bytes_per_key(cpus);
    let fit = (KEYS_BUDGET / per_key).clamp(u64::from(MIN_KEYS), u64::from(MAX_KEYS)) as u32;
    1 << (31 - fit.leading_zeros())
}

/// Slots of the tid-hashed in-flight arrays: pid_max rounded up to a power of two, capped.
pub fn inflight_slots(pid_max: u32) -> u32 {
    pid_max.max(2).next_power_of_two().min(MAX_INFLIGHT_SLOTS)
}

/// Every map ctrace sizes, with its entries for these globals.
pub fn plan(g: &Globals, cpus: u32) -> Vec<Spec> {
    let w = g.syscall_want as u8;
    let seccomp = w & want::SECCOMP != 0;
    let latency = seccomp && g.seccomp_mode != SECCOMP_COUNT;
    let (sem, sigpipe, overlay) = (
        w & want::SEM != 0,
        w & want::SIGPIPE != 0,
        w & want::OVERLAY != 0,
    );
    let keys = match g.max_keys {
        0 => default_keys(cpus),
        k => k.min(MAX_KEYS),
    };
    let slots = inflight_slots(g.pid_max);
    let n = |on: bool, entries: u32| if on { entries } else { 1 };
    let ring = |on: bool, bytes: u32| if on { bytes } else { RING_STUB };
    let spec = |name, problem, kind, key, value, entries| Spec {
        name,
        problem,
        kind,
        key,
        value,
        entries,
    };
    use Kind::*;
    let ev = std::mem::size_of::<OverlayEvent>();
    let hist = std::mem::size_of::<SysHist>();
    let sk = std::mem::size_of::<SysKey>();
    vec![
        spec(
            "FILTER_PIDS",
            "filter",
            Array,
            4,
            1,
            n(g.filter_flags & BY_PID != 0, g.pid_max.max(1)),
        ),
        spec("FILTER_COMMS", "filter", Hash, 16, 1, 64),
        spec("PARENTS", "filter", Lru, 4, 4, 16384),
        spec("FILTER_CGROUPS", "filter", Hash, 8, 1, 1024),
        spec("CGROUP_EVENTS", "filter", RingBuf, 0, 0, 64 << 10),
        spec(
            "DROPS",
            "filter",
            PerCpuArray,
            4,
            8,
            tracer_common::Drop::COUNT,
        ),
        spec("SYS_START", "seccomp", Array, 4, 16, n(latency, slots)),
        spec(
            "SYS_HISTS",
            "seccomp",
            PerCpuHashNoPrealloc,
            sk,
            hist,
            n(latency, keys),
        ),
        spec(
            "SYS_COUNTS",
            "seccomp",
            PerCpuHashNoPrealloc,
            sk,
            8,
            n(seccomp && !latency, keys),
        ),
        spec(
            "SYS_COMMS",
            "seccomp",
            HashNoPrealloc,
            4,
            std::mem::size_of::<tracer_common::seccomp::Seen>(),
            n(seccomp, keys),
        ),
        spec(
            "SYS_EXECS",
            "seccomp",
            HashNoPrealloc,
            4,
            1,
            // --sampled reads a process again after its execve: as many as the default mode.
            n(
                seccomp || g.seccomp_sampled,
                tracer_common::seccomp::MAX_EXECS,
            ),
        ),
        spec(
            "FILTER_START",
            "seccomp",
            HashNoPrealloc,
            4,
            8,
            n(seccomp, 16384),
        ),
        spec(
            "FILTER_COST",
            "seccomp",
            PerCpuHashNoPrealloc,
            4,
            16,
            n(seccomp, keys),
        ),
        spec("SEM_EVENTS", "sem", RingBuf, 0, 0, ring(sem, 256 << 10)),
        spec("SEM_ARGS", "sem", HashNoPrealloc, 4, 24, n(sem, 4096)),
        spec("SEM_USE_SEEN", "sem", Lru, 8, 8, n(sem, 16384)),
        spec(
            "SIGPIPE_EVENTS",
            "sigpipe",
            RingBuf,
            0,
            0,
            ring(sigpipe, 256 << 10),
        ),
        spec("WRITE_ARGS", "sigpipe", Array, 4, 24, n(sigpipe, slots)),
        spec(
            "EPIPE_COUNTS",
            "sigpipe",
            HashNoPrealloc,
            4,
            8,
            n(sigpipe, 16384),
        ),
        spec("PIPED", "sigpipe", Lru, 4, 8, n(sigpipe, 4096)),
        spec(
            "OVERLAY_EVENTS",
            "overlay",
            RingBuf,
            0,
            0,
            ring(overlay, 1 << 20),
        ),
        spec(
            "OVERLAY_ARGS",
            "overlay",
            HashNoPrealloc,
            4,
            ev,
            n(overlay, 4096),
        ),
        spec("OVERLAY_CU_START", "overlay", Hash, 4, 8, n(overlay, 4096)),
        spec("OVERLAY_SHARED", "overlay", Lru, 16, 24, n(overlay, 4096)),
        spec(
            "ZOMBIE_EVENTS",
            "zombie",
            RingBuf,
            0,
            0,
            ring(g.zombie, 1 << 20),
        ),
        spec(
            "ZOMBIE_WATCH",
            "zombie",
            HashNoPrealloc,
            4,
            1,
            n(g.zombie, 65536),
        ),
    ]
}

/// Sets every map's entries on the loader.
pub fn apply(loader: &mut EbpfLoader, g: &Globals) {
    for s in plan(g, cpus()) {
        loader.map_max_entries(s.name, s.entries);
    }
}

fn round8(n: usize) -> u64 {
    n.div_ceil(8) as u64 * 8
}

/// The kernel's element header of a hash map (`struct htab_elem`), and the list node that
/// non-preallocated elements add.
const HTAB_ELEM: u64 = 48;
const LLIST_NODE: u64 = 8;
/// An LRU element's own list node.
const LRU_NODE: u64 = 16;
/// One hash bucket; a hash map has max_entries rounded up to a power of two of them.
const BUCKET: u64 = 16;

/// The most a map can take once full, by the kernel's own accounting (kernel/bpf/hashtab.c,
/// arraymap.c, ringbuf.c), for `cpus` possible CPUs.
pub fn worst_bytes(s: &Spec, cpus: u32) -> u64 {
    let (k, v, e, c) = (
        round8(s.key),
        round8(s.value),
        u64::from(s.entries),
        u64::from(cpus),
    );
    let buckets = e.next_power_of_two() * BUCKET;
    match s.kind {
        Kind::Array => v * e,
        Kind::PerCpuArray => v * e * c,
        Kind::Hash => buckets + (HTAB_ELEM + k + v) * (e + c),
        Kind::Lru => buckets + (HTAB_ELEM + LRU_NODE + k + v) * e,
        Kind::HashNoPrealloc => buckets + (HTAB_ELEM + LLIST_NODE + k + v) * e,
        Kind::PerCpuHashNoPrealloc => buckets + (HTAB_ELEM + 2 * LLIST_NODE + k + 16 + v * c) * e,
        Kind::RingBuf => e + 2 * 4096,
    }
}

/// What a map can still grow by after its load: a preallocated map is charged whole at load,
/// one without preallocation only its buckets.
pub fn growth_bytes(s: &Spec, cpus: u32) -> u64 {
    match s.kind {
        Kind::HashNoPrealloc | Kind::PerCpuHashNoPrealloc => {
            worst_bytes(s, cpus) - u64::from(s.entries).next_power_of_two() * BUCKET
        }
        _ => 0,
    }
}

/// Worst-case bytes of every map of a whole `ctrace trace` (every problem, latency mode, no
/// pid filter) for `cpus` CPUs and `pid_max`, with the default caps.
pub fn formula_all_problems(cpus: u32, pid_max: u32) -> u64 {
    let g = Globals {
        pid_max,
        syscall_want: u32::from(want::ALL),
        zombie: true,
        ..Default::default()
    };
    plan(&g, cpus).iter().map(|s| worst_bytes(s, cpus)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_keys_shrink_with_cpus() {
        assert_eq!(default_keys(2), 8192);
        assert_eq!(default_keys(64), 1024);
        assert_eq!(default_keys(1024), 1024);
    }

    #[test]
    fn only_maps_without_preallocation_grow_after_the_load() {
        let g = Globals {
            pid_max: 32768,
            syscall_want: u32::from(want::ALL),
            zombie: true,
            ..Default::default()
        };
        for s in plan(&g, 4) {
            let grows = growth_bytes(&s, 4);
            match s.kind {
                Kind::HashNoPrealloc | Kind::PerCpuHashNoPrealloc => {
                    assert!(grows > 0 && grows < worst_bytes(&s, 4), "{}", s.name)
                }
                _ => assert_eq!(grows, 0, "{}", s.name),
            }
        }
    }

    #[test]
    fn inflight_slots_are_capped() {
        assert_eq!(inflight_slots(32768), 32768);
        assert_eq!(inflight_slots(4_194_304), 65536);
        assert_eq!(inflight_slots(1), 2);
    }

    #[test]
    fn every_problem_fits_64_mib_on_64_cpus_with_systemd_pid_max() {
        let b = formula_all_problems(64, 4_194_304);
        assert!(b <= 64 << 20, "{} MiB", b >> 20);
    }

    #[test]
    fn zombie_alone_stubs_the_syscall_problems() {
        let g = Globals {
            pid_max: 32768,
            zombie: true,
            ..Default::default()
        };
        for s in plan(&g, 2) {
            match s.problem {
                "seccomp" | "sem" | "sigpipe" | "overlay" => {
                    assert!(s.entries <= RING_STUB, "{}", s.name);
                    assert!(s.kind == Kind::RingBuf || s.entries == 1, "{}", s.name);
                }
                _ => {}
            }
        }
    }
}
