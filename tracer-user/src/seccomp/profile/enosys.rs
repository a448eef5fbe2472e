//! runc's -ENOSYS stub (libcontainer/seccomp/patchbpf, 1.1): in front of libseccomp's program,
//! a syscall numbered above the highest one the profile names, per architecture, gets ENOSYS
//! instead of the default action, so that a program probing for a call newer than the profile
//! falls back as it would on an older kernel. Built here the same way, for the same behaviour.

use std::{collections::BTreeMap, str::FromStr as _};

use anyhow::Result;
use libseccomp::{ScmpAction, ScmpArch, ScmpSyscall};

use super::docker_semantics::Selected;

const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const X32_SYSCALL_BIT: u32 = 1 << 30;
const RET_ERRNO_ENOSYS: u32 = 0x0005_0000 | libc::ENOSYS as u32;

/// The kernel's AUDIT_ARCH_* of an architecture (x32 shares x86_64's, told apart by bit 30).
/// Architectures left out get no section: they fall through to libseccomp's program.
fn audit_arch(a: ScmpArch) -> Option<u32> {
    Some(match a {
        ScmpArch::X86 => 0x4000_0003,
        ScmpArch::X8664 | ScmpArch::X32 => AUDIT_ARCH_X86_64,
        ScmpArch::Arm => 0x4000_0028,
        ScmpArch::Aarch64 => 0xc000_00b7,
        ScmpArch::Ppc64Le => 0xc000_0015,
        ScmpArch::Riscv64 => 0xc000_00f3,
        _ => return None,
    })
}

/// One sock_filter instruction.
#[derive(Clone, Copy)]
struct Insn(u16, u8, u8, u32);

const LD_W_ABS: u16 = 0x20;
const JA: u16 = 0x05;
const JEQ: u16 = 0x15;
const JGT: u16 = 0x25;
const JSET: u16 = 0x45;
const RET_K: u16 = 0x06;

fn ld(off: u32) -> Insn {
    Insn(LD_W_ABS, 0, 0, off)
}
fn ja(k: u32) -> Insn {
    Insn(JA, 0, 0, k)
}

/// The highest syscall number the calls name, per kernel architecture and ABI (x32 or not).
fn last_syscalls(sel: &Selected) -> BTreeMap<u32, BTreeMap<bool, u32>> {
    let mut out: BTreeMap<u32, BTreeMap<bool, u32>> = BTreeMap::new();
    for name in &sel.architectures {
        let Ok(mut arch) = ScmpArch::from_str(name) else {
            continue;
        };
        if arch == ScmpArch::Native {
            arch = ScmpArch::native();
        }
        let Some(native) = audit_arch(arch) else {
            continue;
        };
        let largest = sel
            .calls
            .iter()
            .filter_map(|c| ScmpSyscall::from_name_by_arch(&c.name, arch).ok())
            .map(|s| s.as_raw_syscall())
            .max()
            .unwrap_or(0);
        // libseccomp's pseudo-numbers for calls an architecture lacks are negative.
        if largest > 0 {
            out.entry(native)
                .or_default()
                .insert(arch == ScmpArch::X32, largest as u32);
        }
    }
    out
}

/// runc adds no stub when the default action lets calls through (allow, log, trace).
fn permissive(a: &ScmpAction) -> bool {
    matches!(
        a,
        ScmpAction::Allow | ScmpAction::Log | ScmpAction::Trace(_)
    )
}

/// The stub as sock_filter bytes, to prepend to libseccomp's program; empty when runc adds none.
pub fn stub(sel: &Selected, default: &ScmpAction) -> Result<Vec<u8>> {
    if permissive(default) {
        return Ok(Vec::new());
    }
    let last = last_syscalls(sel);
    // Built backwards, as runc does: jumps are counted from the end, which stays put.
    let mut tail = vec![ja(1), Insn(RET_K, 0, 0, RET_ERRNO_ENOSYS)];
    let mut table: BTreeMap<u32, u32> = BTreeMap::new();
    for (&native, maxes) in &last {
        let enosys = (tail.len() - 1) as u32;
        let filter = enosys + 1;
        let mut section = vec![ld(0)];
        match maxes.len() {
            1 => {
                let Some((&x32, &sysno)) = maxes.iter().next() else {
                    continue;
                };
                let mut t = if enosys < 255 {
                    vec![Insn(JGT, (enosys + 1) as u8, 0, sysno), ja(filter)]
                } else {
                    vec![Insn(JGT, 0, 1, sysno), ja(enosys + 1), ja(filter)]
                };
                if native == AUDIT_ARCH_X86_64 {
                    // x32 and x86_64 share the arch value: skip this section in the other mode.
                    let skip = (t.len() - 1) as u8;
                    let mode = if x32 {
                        Insn(JSET, 0, skip, X32_SYSCALL_BIT)
                    } else {
                        Insn(JSET, skip, 0, X32_SYSCALL_BIT)
                    };
                    t.insert(0, mode);
                }
                section.extend(t);
            }
            _ => {
                // x86_64 and x32 both: only they share one kernel architecture.
                let x86 = maxes.get(&false).copied().unwrap_or(0);
                let x32 = maxes.get(&true).copied().unwrap_or(0);
                if enosys + 2 <= 255 {
                    section.extend([
                        Insn(JSET, 1, 0, X32_SYSCALL_BIT),
                        Insn(JGT, (enosys + 2) as u8, 1, x86),
                        Insn(JGT, (enosys + 1) as u8, 0, x32),
                        ja(filter),
                    ]);
                } else {
                    section.extend([
                        Insn(JSET, 1, 0, X32_SYSCALL_BIT),
                        Insn(JGT, 1, 2, x86),
                        Insn(JGT, 0, 1, x32),
                        ja(enosys + 1),
                        ja(filter),
                    ]);
                }
            }
        }
        section.extend(tail);
        tail = section;
        table.insert(native, tail.len() as u32);
    }
    // Any other architecture goes straight to libseccomp's program (its bad-arch action).
    tail.insert(0, ja(tail.len() as u32));
    for (native, at) in table {
        let jump = tail.len() as u32 - at;
        if jump <= 255 {
            tail.insert(0, Insn(JEQ, jump as u8, 0, native));
        } else {
            tail.splice(0..0, [Insn(JEQ, 0, 1, native), ja(jump)]);
        }
    }
    tail.insert(0, ld(4));
    Ok(tail
        .iter()
        .flat_map(|Insn(code, jt, jf, k)| {
            let mut b = [0u8; 8];
            b[..2].copy_from_slice(&code.to_ne_bytes());
            b[2] = *jt;
            b[3] = *jf;
            b[4..].copy_from_slice(&k.to_ne_bytes());
            b
        })
        .collect())
}
