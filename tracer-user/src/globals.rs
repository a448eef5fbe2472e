//! The load-time globals of the probes: what both the loader (attach.rs) and the map sizes
//! (map_sizes.rs) are decided from.

/// Globals the probes read; they are fixed at load time.
#[derive(Default, Clone, Debug)]
pub struct Globals {
    pub self_tgid: u32,
    pub filter_flags: u32,
    pub fork_child_pid_offset: u32,
    pub pid_max: u32,
    /// Highest aya-log level the probes emit (0: none, 5: trace); set by -v.
    pub log_level: u8,
    pub free_pid_offset: u32,
    pub exit_group_dead_offset: u32,
    /// `tracer_common::syscalls::want` bits: the problems the syscall dispatcher runs.
    pub syscall_want: u32,
    pub seccomp_mode: u32,
    /// zombie is asked: its maps get their caps (else 1-entry stubs, as for the others).
    pub zombie: bool,
    /// seccomp is asked with `--sampled`: no dispatcher, but the exec records still matter.
    pub seccomp_sampled: bool,
    /// `__seccomp_filter`'s text `[start, end)` for the sampler (zeros: not sampled, or
    /// kallsyms hidden).
    pub seccomp_filter_text: [u64; 2],
    /// Cap of the per-(process, syscall) maps; 0: the default for this node's CPUs.
    pub max_keys: u32,
    /// Kernel struct offsets for the events' origin header (namespaces, seccomp state); all
    /// zero without BTF, where user space falls back to /proc.
    pub origin_offsets: tracer_common::origin::Offsets,
}
