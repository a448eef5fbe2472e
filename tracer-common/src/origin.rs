//! Who made an event, captured in the kernel at the event: the header every event that crosses
//! to user space carries, so that user space never needs the process to be alive to attribute it.

/// The load-time global holding `Offsets`.
pub const OFFSETS: &str = "ORIGIN_OFFSETS";

/// The task that was running when the kernel took the event.
///
/// Namespace fields are 0 when the kernel has no BTF (ctrace then falls back to /proc, which
/// only works while the process lives). `cgroup_id` is always filled; on a host without a
/// cgroup2 hierarchy it is the root's id (1) and tells nothing.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Origin {
    /// The task's cgroup in the unified (cgroup2) hierarchy: `bpf_get_current_cgroup_id`, equal
    /// to the inode number of its directory under the cgroup2 mount (/sys/fs/cgroup, or
    /// /sys/fs/cgroup/unified on a hybrid v1/v2 host). Maps to a container through its path.
    pub cgroup_id: u64,
    /// Process id (thread-group id) as the host sees it.
    pub tgid: u32,
    /// Thread id as the host sees it.
    pub tid: u32,
    /// Inode of the task's pid namespace (the one it was born in: `ls -Li /proc/PID/ns/pid`).
    pub pidns: u32,
    /// Inode of the task's mount namespace (`/proc/PID/ns/mnt`): whose mount table a path means.
    pub mntns: u32,
    /// Inode of the task's IPC namespace (`/proc/PID/ns/ipc`): whose SysV objects it sees.
    pub ipcns: u32,
    pub _pad: u32,
    /// The thread's name (TASK_COMM_LEN bytes, NUL-padded).
    pub comm: [u8; crate::COMM_LEN],
}

impl Origin {
    pub const ZERO: Origin = Origin {
        cgroup_id: 0,
        tgid: 0,
        tid: 0,
        pidns: 0,
        mntns: 0,
        ipcns: 0,
        _pad: 0,
        comm: [0; crate::COMM_LEN],
    };

    /// Whether the namespaces were read in the kernel (BTF offsets were known).
    pub fn has_namespaces(&self) -> bool {
        self.mntns != 0
    }
}

/// Byte offsets into kernel structures, from the kernel's BTF at load time; all 0 without BTF
/// (the probes then leave the namespace fields 0). Every `*_inum` is the offset of the
/// namespace's `ns.inum` from the start of its structure.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Offsets {
    /// task_struct.nsproxy
    pub task_nsproxy: u32,
    /// task_struct.thread_pid
    pub task_thread_pid: u32,
    /// task_struct.seccomp.mode (0 when not known)
    pub task_seccomp_mode: u32,
    /// task_struct.seccomp.filter_count
    pub task_seccomp_filters: u32,
    /// nsproxy.mnt_ns
    pub nsproxy_mnt_ns: u32,
    /// nsproxy.ipc_ns
    pub nsproxy_ipc_ns: u32,
    /// mnt_namespace.ns.inum
    pub mnt_ns_inum: u32,
    /// ipc_namespace.ns.inum
    pub ipc_ns_inum: u32,
    /// pid.level
    pub pid_level: u32,
    /// pid.numbers
    pub pid_numbers: u32,
    /// sizeof(struct upid)
    pub upid_size: u32,
    /// upid.ns
    pub upid_ns: u32,
    /// pid_namespace.ns.inum
    pub pid_ns_inum: u32,
    pub _pad: u32,
}

impl Offsets {
    pub const ZERO: Offsets = Offsets {
        task_nsproxy: 0,
        task_thread_pid: 0,
        task_seccomp_mode: 0,
        task_seccomp_filters: 0,
        nsproxy_mnt_ns: 0,
        nsproxy_ipc_ns: 0,
        mnt_ns_inum: 0,
        ipc_ns_inum: 0,
        pid_level: 0,
        pid_numbers: 0,
        upid_size: 0,
        upid_ns: 0,
        pid_ns_inum: 0,
        _pad: 0,
    };

    /// All namespace offsets are known.
    pub fn namespaces(&self) -> bool {
        self.task_nsproxy != 0 && self.task_thread_pid != 0 && self.upid_size != 0
    }
}

#[cfg(feature = "user")]
mod pod {
    unsafe impl aya::Pod for super::Origin {}
    unsafe impl aya::Pod for super::Offsets {}
}

/// The ring buffer of `CgroupBirth` records.
pub const CGROUP_EVENTS: &str = "CGROUP_EVENTS";
/// cgroup id -> 1: the cgroups `--container` selects (`filter::BY_CGROUP`).
pub const FILTER_CGROUPS: &str = "FILTER_CGROUPS";
pub const CGROUP_PATH_LEN: usize = 256;

/// A cgroup made in the unified hierarchy (`cgroup:cgroup_mkdir`), so that user space knows
/// its path, and so its container, even when it is gone by the time its events are read.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct CgroupBirth {
    /// The new cgroup's id (what `Origin::cgroup_id` holds for its tasks).
    pub id: u64,
    /// Depth below the hierarchy's root (1 for `/docker`).
    pub level: u32,
    pub _pad: u32,
    /// Its path from the hierarchy's root (`/docker/<id>`), NUL-terminated.
    pub path: [u8; CGROUP_PATH_LEN],
}

#[cfg(feature = "user")]
mod birth_pod {
    unsafe impl aya::Pod for super::CgroupBirth {}
}
