//! A classic BPF interpreter for seccomp filters: the action the kernel's filters return for one
//! `seccomp_data`, so that two filters can be compared call by call without making the calls.

pub const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
pub const AUDIT_ARCH_I386: u32 = 0x4000_0003;
pub const AUDIT_ARCH_AARCH64: u32 = 0xc000_00b7;
/// x32 calls are x86_64 calls with this bit set in the number.
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;

pub const RET_KILL_PROCESS: u32 = 0x8000_0000;
pub const RET_KILL_THREAD: u32 = 0;
pub const RET_TRAP: u32 = 0x0003_0000;
pub const RET_ERRNO: u32 = 0x0005_0000;
pub const RET_TRACE: u32 = 0x7ff0_0000;
pub const RET_LOG: u32 = 0x7ffc_0000;
pub const RET_ALLOW: u32 = 0x7fff_0000;

/// `struct seccomp_data`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SeccompData {
    pub nr: u32,
    pub arch: u32,
    pub ip: u64,
    pub args: [u64; 6],
}

impl SeccompData {
    pub fn new(arch: u32, nr: u32) -> SeccompData {
        SeccompData {
            nr,
            arch,
            ..Default::default()
        }
    }

    fn bytes(&self) -> [u8; 64] {
        let mut b = [0u8; 64];
        b[0..4].copy_from_slice(&self.nr.to_ne_bytes());
        b[4..8].copy_from_slice(&self.arch.to_ne_bytes());
        b[8..16].copy_from_slice(&self.ip.to_ne_bytes());
        for (i, a) in self.args.iter().enumerate() {
            b[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_ne_bytes());
        }
        b
    }
}

/// What one filter program returns; an error for what the kernel would refuse to load or run.
pub fn run(prog: &[u8], d: &SeccompData) -> Result<u32, String> {
    traced(prog, d).map(|(ret, _)| ret)
}

/// The return value, and whether the run loaded an argument: if it did not, every argument
/// value takes the same path to the same return value.
pub fn traced(prog: &[u8], d: &SeccompData) -> Result<(u32, bool), String> {
    if prog.is_empty() || !prog.len().is_multiple_of(8) {
        return Err(format!("not a BPF program ({} bytes)", prog.len()));
    }
    let insns: Vec<(u16, u8, u8, u32)> = prog
        .chunks_exact(8)
        .map(|c| {
            (
                u16::from_ne_bytes([c[0], c[1]]),
                c[2],
                c[3],
                u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
            )
        })
        .collect();
    let data = d.bytes();
    let read_args = std::cell::Cell::new(false);
    let word = |k: u32| -> Result<u32, String> {
        let k = k as usize;
        read_args.set(read_args.get() || k >= 16);
        if !k.is_multiple_of(4) || k + 4 > data.len() {
            return Err(format!("load at offset {k}"));
        }
        Ok(u32::from_ne_bytes([
            data[k],
            data[k + 1],
            data[k + 2],
            data[k + 3],
        ]))
    };
    let (mut a, mut x, mut mem) = (0u32, 0u32, [0u32; 16]);
    let mut pc = 0usize;
    loop {
        let &(code, jt, jf, k) = insns.get(pc).ok_or(format!("fell off the end at {pc}"))?;
        pc += 1;
        let src = if code & 0x08 != 0 { x } else { k };
        let slot = |k: u32| -> Result<usize, String> {
            (k < 16)
                .then_some(k as usize)
                .ok_or(format!("scratch slot {k}"))
        };
        match code & 0x07 {
            // LD, LDX: word loads (ABS), immediates, scratch memory, the data length.
            0x00 | 0x01 => {
                let v = match code & 0xe0 {
                    0x20 => word(k)?,
                    0x00 => k,
                    0x60 => mem[slot(k)?],
                    0x80 => 64,
                    _ => return Err(format!("load op {code:#x}")),
                };
                if code & 0x07 == 0 { a = v } else { x = v }
            }
            0x02 => mem[slot(k)?] = a,
            0x03 => mem[slot(k)?] = x,
            0x04 => {
                a = match code & 0xf0 {
                    0x00 => a.wrapping_add(src),
                    0x10 => a.wrapping_sub(src),
                    0x20 => a.wrapping_mul(src),
                    0x30 => a.checked_div(src).ok_or("division by zero")?,
                    0x40 => a | src,
                    0x50 => a & src,
                    0x60 => a.checked_shl(src).unwrap_or(0),
                    0x70 => a.checked_shr(src).unwrap_or(0),
                    0x80 => a.wrapping_neg(),
                    0x90 => a.checked_rem(src).ok_or("modulo by zero")?,
                    0xa0 => a ^ src,
                    _ => return Err(format!("alu op {code:#x}")),
                }
            }
            0x05 => {
                let taken = match code & 0xf0 {
                    0x00 => {
                        pc += k as usize;
                        continue;
                    }
                    0x10 => a == src,
                    0x20 => a > src,
                    0x30 => a >= src,
                    0x40 => a & src != 0,
                    _ => return Err(format!("jump op {code:#x}")),
                };
                pc += if taken { jt } else { jf } as usize;
            }
            0x06 => return Ok((if code & 0x18 == 0x10 { a } else { k }, read_args.get())),
            _ => {
                if code == 0x07 {
                    x = a
                } else if code == 0x87 {
                    a = x
                } else {
                    return Err(format!("misc op {code:#x}"));
                }
            }
        }
    }
}

/// Several filters of one task, oldest first: the kernel runs them all and keeps the most
/// restrictive action, the newest filter's on a tie.
pub fn run_all(filters: &[Vec<u8>], d: &SeccompData) -> Result<u32, String> {
    run_all_traced(filters, d).map(|(ret, _)| ret)
}

/// `run_all`, and whether any filter loaded an argument.
pub fn run_all_traced(filters: &[Vec<u8>], d: &SeccompData) -> Result<(u32, bool), String> {
    let (mut ret, mut read_args) = (RET_ALLOW, false);
    for f in filters.iter().rev() {
        let (cur, read) = traced(f, d)?;
        read_args |= read;
        if ((cur & 0xffff_0000) as i32) < ((ret & 0xffff_0000) as i32) {
            ret = cur;
        }
    }
    Ok((ret, read_args))
}

/// A return value in words: "allow", "errno 1", "kill-thread"...
pub fn describe(ret: u32) -> String {
    let data = ret & 0xffff;
    match ret & 0xffff_0000 {
        RET_KILL_PROCESS => "kill-process".into(),
        RET_KILL_THREAD => "kill-thread".into(),
        RET_TRAP => "trap".into(),
        RET_ERRNO => format!("errno {data}"),
        RET_TRACE => format!("trace {data}"),
        RET_LOG => "log".into(),
        RET_ALLOW => "allow".into(),
        other => format!("{other:#x}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn insn(code: u16, jt: u8, jf: u8, k: u32) -> Vec<u8> {
        let mut b = code.to_ne_bytes().to_vec();
        b.extend([jt, jf]);
        b.extend(k.to_ne_bytes());
        b
    }

    #[test]
    fn arch_check_and_masked_arg() {
        // ld arch; jne x86_64 -> kill; ld nr; jeq 39 -> allow; ld args[0] lo; and 0xff; jeq 7.
        let prog: Vec<u8> = [
            insn(0x20, 0, 0, 4),
            insn(0x15, 1, 0, AUDIT_ARCH_X86_64),
            insn(0x06, 0, 0, RET_KILL_THREAD),
            insn(0x20, 0, 0, 0),
            insn(0x15, 4, 0, 39),
            insn(0x20, 0, 0, 16),
            insn(0x54, 0, 0, 0xff),
            insn(0x15, 1, 0, 7),
            insn(0x06, 0, 0, RET_ERRNO | 1),
            insn(0x06, 0, 0, RET_ALLOW),
        ]
        .concat();
        let mut d = SeccompData::new(AUDIT_ARCH_X86_64, 39);
        assert_eq!(run(&prog, &d), Ok(RET_ALLOW));
        d.nr = 1;
        assert_eq!(describe(run(&prog, &d).unwrap()), "errno 1");
        d.args[0] = 0x1107;
        assert_eq!(run(&prog, &d), Ok(RET_ALLOW));
        d.arch = AUDIT_ARCH_I386;
        assert_eq!(run(&prog, &d), Ok(RET_KILL_THREAD));
        let errno = insn(0x06, 0, 0, RET_ERRNO | 38);
        let allow = insn(0x06, 0, 0, RET_ALLOW);
        assert_eq!(run_all(&[errno.clone(), allow], &d), Ok(RET_ERRNO | 38));
        assert!(run(&insn(0x20, 0, 0, 64), &d).is_err());
        d.arch = AUDIT_ARCH_X86_64;
        assert_eq!(traced(&prog, &d).map(|(_, read)| read), Ok(true));
        d.nr = 39;
        assert_eq!(traced(&prog, &d).map(|(_, read)| read), Ok(false));
    }
}
