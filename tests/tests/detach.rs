//! Nothing is left behind: after a run, the kernel holds no more BPF programs than before.
//! Alone in its own test binary, so no other test loads programs meanwhile.

use std::time::Duration;

use tests::root;

#[test]
fn probes_are_detached_after_the_run() {
    if !root() {
        return;
    }
    let before = loaded_prog_count();
    let (code, _, err) = tests::run_ctrace(&["trace", "seccomp", "--duration", "1s", "--json"]);
    assert_eq!(code, 0, "{err}");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(loaded_prog_count(), before, "eBPF programs left loaded");
}

/// Programs named like ours that the kernel still holds (bpftool is not needed: /proc has fdinfo
/// only per fd, so count through the BPF_PROG_GET_NEXT_ID syscall).
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
