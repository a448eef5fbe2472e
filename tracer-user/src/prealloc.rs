//! Maps that allocate on insert (`BPF_F_NO_PREALLOC`) make kernels 5.7 to 6.0 print `WARNING:
//! trace type BPF program uses run-time allocation` and taint themselves when a tracing program
//! uses them (a node with `panic_on_warn=1` panics), and PREEMPT_RT kernels refuse them. The BPF
//! memory allocator (`struct bpf_mem_alloc` in the kernel's BTF, from 6.1) ended that. Where the
//! BTF does not show it, every such map of the object is patched to preallocate before load.

use std::borrow::Cow;

use anyhow::{Context as _, Result};
use object::{Object as _, ObjectSection as _, ObjectSymbol as _};

/// `BPF_F_NO_PREALLOC`, and where `map_flags` sits in a map definition (`struct bpf_map_def`:
/// type, key_size, value_size, max_entries, map_flags, ...).
const NO_PREALLOC: u32 = 1;
const FLAGS_AT: usize = 16;

/// Whether this kernel allocates map elements at run time without warning.
pub fn runtime_alloc_is_safe() -> bool {
    static SAFE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *SAFE.get_or_init(|| crate::btf::Btf::kernel().is_ok_and(|b| b.size("bpf_mem_alloc").is_some()))
}

/// The object to load: as built, or with every map preallocated (and the names of those maps).
pub fn object_for(
    obj: &'static [u8],
    runtime_alloc: bool,
) -> Result<(Cow<'static, [u8]>, Vec<String>)> {
    if runtime_alloc {
        return Ok((Cow::Borrowed(obj), Vec::new()));
    }
    let mut patched = obj.to_vec();
    let names = preallocate(obj, &mut patched)?;
    Ok((Cow::Owned(patched), names))
}

/// Clears `BPF_F_NO_PREALLOC` of every map definition of `obj`, in `out` (a copy of it).
fn preallocate(obj: &[u8], out: &mut [u8]) -> Result<Vec<String>> {
    let file = object::File::parse(obj).context("reading the probe object")?;
    let maps = file
        .section_by_name("maps")
        .context("the probe object has no maps section")?;
    let (base, _) = maps
        .file_range()
        .context("the maps section has no file range")?;
    let mut names = Vec::new();
    for sym in file.symbols() {
        if sym.section_index() != Some(maps.index()) {
            continue;
        }
        let at = base as usize + sym.address() as usize + FLAGS_AT;
        let Some(word) = out.get_mut(at..at + 4) else {
            continue;
        };
        let flags = u32::from_le_bytes(word.try_into().expect("4 bytes"));
        if flags & NO_PREALLOC != 0 {
            word.copy_from_slice(&(flags & !NO_PREALLOC).to_le_bytes());
            names.push(sym.name().unwrap_or("?").to_string());
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_run_time_allocated_map_of_the_object_is_preallocated_and_nothing_else_changes() {
        let obj = crate::attach::object();
        let (same, none) = object_for(obj, true).unwrap();
        assert!(none.is_empty() && same.as_ref() == obj);
        let (patched, names) = object_for(obj, false).unwrap();
        for m in [
            "OVERLAY_ARGS",
            "SYS_HISTS",
            "ZOMBIE_WATCH",
            "SEM_ARGS",
            "EPIPE_COUNTS",
        ] {
            assert!(names.iter().any(|n| n == m), "{m} not patched: {names:?}");
        }
        let changed = obj
            .iter()
            .zip(patched.iter())
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(changed, names.len(), "one byte per patched map");
        let (_, again) =
            object_for(Box::leak(patched.into_owned().into_boxed_slice()), false).unwrap();
        assert!(
            again.is_empty(),
            "a patched object has nothing left to patch"
        );
    }
}
