//! A process under a seccomp filter that reads a syscall argument (so the kernel's action cache
//! cannot skip it) and runs 200 comparisons before allowing: bursts of getppid until killed.
//! `seccomp-helper exec MS CMD ARGS...` lives MS ms unfiltered, then installs the filter and
//! execs CMD, as runc does before a container's command; `exec-spin` spends those MS ms on the
//! CPU, for a sampler to see.

use std::os::unix::process::CommandExt;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map(String::as_str);
    let exec = matches!(mode, Some("exec" | "exec-spin")).then(|| {
        let ms: u64 = args[2].parse().expect("exec MS CMD...");
        let wait = std::time::Duration::from_millis(ms);
        if mode == Some("exec-spin") {
            let t = std::time::Instant::now();
            while t.elapsed() < wait {
                std::hint::spin_loop();
            }
        } else {
            std::thread::sleep(wait);
        }
        let mut cmd = std::process::Command::new(&args[3]);
        cmd.args(&args[4..]);
        cmd
    });
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
    if let Some(mut cmd) = exec {
        panic!("exec {:?}: {}", args[3], cmd.exec());
    }
    println!("filtered");
    loop {
        for _ in 0..5000 {
            unsafe { libc::syscall(libc::SYS_getppid) };
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}
