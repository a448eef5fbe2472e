//! A process under a seccomp filter that reads a syscall argument (so the kernel's action cache
//! cannot skip it) and runs 200 comparisons before allowing: bursts of getppid until killed.

fn main() {
    #[repr(C)]
    struct Insn {
        code: u16,
        jt: u8,
        jf: u8,
        k: u32,
    }
    #[repr(C)]
    struct Prog {
        len: u16,
        filter: *const Insn,
    }
    const LD_W_ABS: u16 = 0x20;
    const JEQ_K: u16 = 0x15;
    const RET_K: u16 = 0x06;
    const ALLOW: u32 = 0x7fff_0000;
    // seccomp_data: nr, arch, instruction_pointer, then args[0] at 16.
    let mut insns = vec![Insn {
        code: LD_W_ABS,
        jt: 0,
        jf: 0,
        k: 16,
    }];
    insns.extend((0..200).map(|i| Insn {
        code: JEQ_K,
        jt: 0,
        jf: 0,
        k: 0xdead_0000 + i,
    }));
    insns.push(Insn {
        code: RET_K,
        jt: 0,
        jf: 0,
        k: ALLOW,
    });
    let prog = Prog {
        len: insns.len() as u16,
        filter: insns.as_ptr(),
    };
    unsafe {
        assert_eq!(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
        let rc = libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER,
            &prog as *const Prog,
        );
        assert_eq!(
            rc,
            0,
            "installing the filter: {}",
            std::io::Error::last_os_error()
        );
    }
    println!("filtered");
    loop {
        for _ in 0..5000 {
            unsafe { libc::syscall(libc::SYS_getppid) };
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}
