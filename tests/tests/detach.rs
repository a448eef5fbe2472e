//! Nothing is left behind: after a run, the kernel holds no more BPF programs than before.
//! Alone in its own test binary, so no other test loads programs meanwhile.

use std::time::Duration;

use tests::{Tracer, root};

/// Programs of processes that exited a moment ago are freed by deferred kernel work, so counts
/// are read once they have settled.
fn settled_count() -> usize {
    let mut last = loaded_prog_count();
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(250));
        let now = loaded_prog_count();
        if now == last {
            return now;
        }
        last = now;
    }
    last
}

#[test]
fn probes_are_detached_after_the_run() {
    if !root() {
        return;
    }
    let before = settled_count();
    let tracer = Tracer::start(&["trace", "seccomp", "--json"]);
    let during = loaded_prog_count();
    assert!(
        during > before,
        "no programs seen while attached ({during} <= {before})"
    );
    tracer.stop_json();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while loaded_prog_count() > before && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        loaded_prog_count() <= before,
        "eBPF programs left loaded after the run"
    );
}

/// All BPF programs the kernel holds, through BPF_PROG_GET_NEXT_ID (no bpftool needed).
fn loaded_prog_count() -> usize {
    let mut n = 0;
    let mut id: u32 = 0;
    loop {
        #[repr(C)]
        struct Attr {
            start_id: u32,
            next_id: u32,
            open_flags: u32,
        }
        let mut attr = Attr {
            start_id: id,
            next_id: 0,
            open_flags: 0,
        };
        const BPF_PROG_GET_NEXT_ID: libc::c_long = 11;
        let rc = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                BPF_PROG_GET_NEXT_ID,
                &mut attr as *mut Attr,
                std::mem::size_of::<Attr>(),
            )
        };
        if rc != 0 {
            return n;
        }
        id = attr.next_id;
        n += 1;
    }
}
