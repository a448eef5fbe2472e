//! Nothing is left behind: after a run, none of the BPF programs and maps that ctrace held is
//! still in the kernel. Only ctrace's own objects are followed (by id, from its fds), so other
//! tracers on the node, other tests included, can load and unload what they like meanwhile.

use std::{collections::BTreeSet, time::Duration};

use tests::{Tracer, root};

/// The BPF object ids behind a process's fds: `prog_id:` or `map_id:` lines in fdinfo.
fn held_ids(pid: u32, field: &str) -> BTreeSet<u32> {
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
fn loaded_ids(cmd: libc::c_long) -> BTreeSet<u32> {
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

const BPF_PROG_GET_NEXT_ID: libc::c_long = 11;
const BPF_MAP_GET_NEXT_ID: libc::c_long = 12;

#[test]
fn probes_are_detached_after_the_run() {
    if !root() {
        return;
    }
    let tracer = Tracer::start(&["trace", "seccomp", "--json"]);
    let progs = held_ids(tracer.pid(), "prog_id");
    let maps = held_ids(tracer.pid(), "map_id");
    assert!(
        !progs.is_empty(),
        "ctrace holds no BPF program while attached"
    );
    assert!(!maps.is_empty(), "ctrace holds no BPF map while attached");
    assert!(progs.is_subset(&loaded_ids(BPF_PROG_GET_NEXT_ID)));
    tracer.stop_json();
    // Programs of a process that exited a moment ago are freed by deferred kernel work.
    let left = || {
        let p: Vec<u32> = loaded_ids(BPF_PROG_GET_NEXT_ID)
            .intersection(&progs)
            .copied()
            .collect();
        let m: Vec<u32> = loaded_ids(BPF_MAP_GET_NEXT_ID)
            .intersection(&maps)
            .copied()
            .collect();
        (p, m)
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while left() != (vec![], vec![]) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    let (p, m) = left();
    assert!(
        p.is_empty(),
        "programs {p:?} of ctrace still loaded after the run"
    );
    assert!(
        m.is_empty(),
        "maps {m:?} of ctrace still in the kernel after the run"
    );
}
