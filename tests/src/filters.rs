//! Classic BPF seccomp filters for the test helpers, written by hand so that the oracle does
//! not share ctrace's code: build one, install it on the calling thread.

#[repr(C)]
pub struct Insn {
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
pub const ALLOW: u32 = 0x7fff_0000;

fn insn(code: u16, k: u32) -> Insn {
    Insn {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

/// One instruction: allow. The kernel's action cache skips it (5.11+).
pub fn allow_all() -> Vec<Insn> {
    vec![insn(RET_K, ALLOW)]
}

/// Loads args[0] (seccomp_data offset 16), so the action cache cannot skip it, then runs
/// `compares` comparisons that never match before allowing.
pub fn with_args(compares: u32) -> Vec<Insn> {
    let mut v = vec![insn(LD_W_ABS, 16)];
    v.extend((0..compares).map(|i| insn(JEQ_K, 0xdead_0000 + i)));
    v.push(insn(RET_K, ALLOW));
    v
}

/// Sets no_new_privs and installs `insns` as a filter of the calling thread.
pub fn install(insns: &[Insn]) {
    let prog = Prog {
        len: insns.len() as u16,
        filter: insns.as_ptr(),
    };
    // SAFETY: prctl reads `prog` and the instructions it points to, both alive for the call;
    // the other prctl takes integers only.
    let rc = unsafe {
        assert_eq!(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER,
            &prog as *const Prog,
        )
    };
    assert_eq!(
        rc,
        0,
        "installing a filter: {}",
        std::io::Error::last_os_error()
    );
}
