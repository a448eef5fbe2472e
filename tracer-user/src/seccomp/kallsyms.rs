//! The kernel's text symbols from /proc/kallsyms: names for the sampled stacks' frames, the
//! bounds of `__seccomp_filter` for the sampling program, and where core kernel text ends
//! (beyond it, a JIT'd filter has no symbol of its own).

use std::sync::OnceLock;

use anyhow::{Result, anyhow};

/// The kernel's text symbols, sorted by address.
#[derive(Default)]
pub struct Kallsyms {
    /// Address, name, and whether a module (or a BPF program) holds it.
    syms: Vec<(u64, String, bool)>,
    /// `_etext`: the end of core kernel text (0 where hidden).
    core_end: u64,
}

/// Read once per run: the sampler and the loader (`FILTER_TEXT`) share it.
pub fn shared() -> Result<&'static Kallsyms> {
    static SYMS: OnceLock<std::result::Result<Kallsyms, String>> = OnceLock::new();
    SYMS.get_or_init(|| Kallsyms::read().map_err(|e| format!("{e:#}")))
        .as_ref()
        .map_err(|e| anyhow!("{e}"))
}

impl Kallsyms {
    fn read() -> Result<Kallsyms> {
        let text = std::fs::read_to_string("/proc/kallsyms")
            .map_err(|e| anyhow!("reading /proc/kallsyms: {e}"))?;
        let k = Kallsyms::parse(&text);
        if k.syms.is_empty() {
            anyhow::bail!("/proc/kallsyms shows no addresses (kernel.kptr_restrict?)");
        }
        Ok(k)
    }

    /// Text symbols only (t, T); addresses all zero (hidden from this user) are dropped.
    pub fn parse(text: &str) -> Kallsyms {
        let mut syms: Vec<(u64, String, bool)> = text
            .lines()
            .filter_map(|l| {
                let mut f = l.split_whitespace();
                let addr = u64::from_str_radix(f.next()?, 16).ok()?;
                let kind = f.next()?;
                let name = f.next()?;
                let module = f.next().is_some();
                (addr != 0 && matches!(kind, "t" | "T")).then(|| (addr, name.to_string(), module))
            })
            .collect();
        syms.sort_unstable();
        let core_end = syms
            .iter()
            .find(|(_, n, _)| n == "_etext")
            .map_or(0, |(a, _, _)| *a);
        Kallsyms { syms, core_end }
    }

    /// The function `ip` falls in, without the compiler's suffix (`.isra.0`, `.cold`). None
    /// past the end of core text when the nearest symbol below is not a module's: that is
    /// code with no symbol (a JIT'd classic filter), not the last core or init function.
    pub fn name(&self, ip: u64) -> Option<&str> {
        let i = self.syms.partition_point(|(a, _, _)| *a <= ip);
        let (_, name, module) = self.syms.get(i.checked_sub(1)?)?;
        if self.core_end != 0 && ip >= self.core_end && !module {
            return None;
        }
        Some(name.split('.').next().unwrap_or(name))
    }

    /// `[start, end)` of the function `name`: its address and the next symbol's.
    pub fn extent(&self, name: &str) -> Option<(u64, u64)> {
        let i = self.syms.iter().position(|(_, n, _)| n == name)?;
        let start = self.syms[i].0;
        let end = self.syms[i + 1..].iter().find(|(a, _, _)| *a > start)?.0;
        Some((start, end))
    }
}

/// `tracer_common::seccomp::FILTER_TEXT`'s value: zeros where kallsyms is hidden.
pub fn filter_text() -> [u64; 2] {
    shared()
        .ok()
        .and_then(|k| k.extent("__seccomp_filter"))
        .map_or([0, 0], |(s, e)| [s, e])
}

/// A small /proc/kallsyms for the classifier's tests.
#[cfg(test)]
pub const TEST_SYMS: &str = "\
0000000000000000 T hidden
ffffffff81000000 T _stext
ffffffff81424190 T syscall_trace_enter
ffffffff81424400 T do_syscall_64
ffffffff8148a360 t populate_seccomp_data
ffffffff8148aab0 t __seccomp_filter
ffffffff8148bc80 T __secure_computing
ffffffff8148bd00 t seccomp_check_filter.isra.0
ffffffff8148be00 D some_data
ffffffff82000000 T _etext
ffffffff83000000 T _einittext
ffffffffc0100000 t ovl_open [overlay]
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_extents_and_code_without_a_symbol() {
        let k = Kallsyms::parse(TEST_SYMS);
        assert_eq!(k.name(0xffffffff8148a370), Some("populate_seccomp_data"));
        assert_eq!(k.name(0xffffffff8148bd10), Some("seccomp_check_filter"));
        assert_eq!(k.name(0x10), None);
        // Past _etext, before any module: a JIT image, not the last core or init function.
        assert_eq!(k.name(0xffffffffc0001234), None);
        assert_eq!(k.name(0xffffffff82000010), None);
        assert_eq!(k.name(0xffffffffc0100010), Some("ovl_open"));
        assert_eq!(
            k.extent("__seccomp_filter"),
            Some((0xffffffff8148aab0, 0xffffffff8148bc80))
        );
        assert_eq!(k.extent("nothing"), None);
    }
}
