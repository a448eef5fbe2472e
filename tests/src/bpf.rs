//! The BPF objects a process holds, and whether they are gone from the kernel: how tests check
//! that ctrace leaves nothing behind without counting other tracers' programs.

use std::{collections::BTreeSet, time::Duration};

/// The BPF object ids behind a process's fds: `prog_id:` or `map_id:` lines in fdinfo.
pub fn held_ids(pid: u32, field: &str) -> BTreeSet<u32> {
    let mut ids = BTreeSet::new();
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fdinfo")) else {
        return ids;
    };
    for e in dir.flatten() {
        let Ok(text) = std::fs::read_to_string(e.path()) else {
            continue;
        };
        for line in text.lines() {
            let value = line.strip_prefix(field).and_then(|r| r.strip_prefix(':'));
            if let Some(Ok(id)) = value.map(|v| v.trim().parse()) {
                ids.insert(id);
            }
        }
    }
    ids
}

/// Every id of one kind the kernel holds, through BPF_*_GET_NEXT_ID (no bpftool needed).
pub fn loaded_ids(cmd: libc::c_long) -> BTreeSet<u32> {
    #[repr(C)]
    struct Attr {
        start_id: u32,
        next_id: u32,
        open_flags: u32,
    }
    let mut ids = BTreeSet::new();
    let mut id = 0;
    loop {
        let mut attr = Attr {
            start_id: id,
            next_id: 0,
            open_flags: 0,
        };
        let rc = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                cmd,
                &mut attr as *mut Attr,
                std::mem::size_of::<Attr>(),
            )
        };
        if rc != 0 {
            return ids;
        }
        id = attr.next_id;
        ids.insert(id);
    }
}

pub const BPF_PROG_GET_NEXT_ID: libc::c_long = 11;
pub const BPF_MAP_GET_NEXT_ID: libc::c_long = 12;

/// Waits up to 10 s (programs of a process that just exited are freed by deferred kernel work)
/// for every id in `ids` to be gone; panics naming those still there.
pub fn assert_ids_gone(ids: &BTreeSet<u32>, cmd: libc::c_long) {
    let left = || -> Vec<u32> { loaded_ids(cmd).intersection(ids).copied().collect() };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !left().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    let kind = if cmd == BPF_PROG_GET_NEXT_ID {
        "programs"
    } else {
        "maps"
    };
    let left = left();
    assert!(
        left.is_empty(),
        "{kind} {left:?} of ctrace still in the kernel after it ended"
    );
}

/// `pid` and every process below it, from the parent links in /proc/*/stat.
pub fn process_tree(pid: u32) -> Vec<u32> {
    let mut parent_of = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(child) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
            continue;
        };
        let ppid = stat
            .rfind(')')
            .and_then(|close| stat[close + 1..].split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(ppid) = ppid {
            parent_of.push((child, ppid));
        }
    }
    let mut tree = vec![pid];
    let mut i = 0;
    while i < tree.len() {
        let p = tree[i];
        tree.extend(parent_of.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    tree
}

/// The BPF program ids that a process and its children hold at any time while it runs,
/// sampled every 20 ms on a thread of its own: what a run must leave gone, whatever other
/// tracers on the node load meanwhile.
pub struct TreeWatch {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<BTreeSet<u32>>,
}

impl TreeWatch {
    pub fn start(pid: u32) -> Self {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut seen = BTreeSet::new();
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                for p in process_tree(pid) {
                    seen.extend(held_ids(p, "prog_id"));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            seen
        });
        Self { stop, thread }
    }

    /// The ids seen; call once the process has ended.
    pub fn finish(self) -> BTreeSet<u32> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.join().expect("the watch thread panicked")
    }
}
