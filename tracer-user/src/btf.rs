//! Struct member offsets from the kernel's BTF (/sys/kernel/btf/vmlinux), for the probes that
//! read the current task (its namespaces, its seccomp state). aya keeps its BTF type table
//! private, so this reads the (stable, documented) format itself: a header, the types, the
//! strings. Only what offsets need is decoded.

use std::collections::HashMap;

use anyhow::{Result, bail};
use tracer_common::origin::Offsets;

const MAGIC: u16 = 0xeb9f;
const KIND_INT: u32 = 1;
const KIND_PTR: u32 = 2;
const KIND_ARRAY: u32 = 3;
const KIND_STRUCT: u32 = 4;
const KIND_UNION: u32 = 5;
const KIND_ENUM: u32 = 6;
const KIND_TYPEDEF: u32 = 8;
const KIND_VOLATILE: u32 = 9;
const KIND_CONST: u32 = 10;
const KIND_RESTRICT: u32 = 11;
const KIND_FUNC_PROTO: u32 = 13;
const KIND_VAR: u32 = 14;
const KIND_DATASEC: u32 = 15;
const KIND_DECL_TAG: u32 = 17;
const KIND_TYPE_TAG: u32 = 18;
const KIND_ENUM64: u32 = 19;

struct Member {
    name: u32,
    ty: u32,
    bit_offset: u32,
}

struct Type {
    name: u32,
    kind: u32,
    /// Size for structs, unions, ints; the referenced type for pointers, typedefs, modifiers.
    size_or_type: u32,
    members: Vec<Member>,
}

/// The parsed type table: enough to find structs and their members' offsets.
pub struct Btf {
    types: Vec<Type>,
    strings: Vec<u8>,
    structs: HashMap<String, u32>,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

impl Btf {
    pub fn from_sys_fs() -> Result<Btf> {
        Btf::parse(&std::fs::read("/sys/kernel/btf/vmlinux")?)
    }

    /// The running kernel's BTF, read and parsed once for every user (offsets, layouts, the
    /// preallocation choice): several megabytes each time otherwise, at every start.
    pub fn kernel() -> Result<&'static Btf> {
        static KERNEL: std::sync::OnceLock<Result<Btf, String>> = std::sync::OnceLock::new();
        KERNEL
            .get_or_init(|| Btf::from_sys_fs().map_err(|e| format!("{e:#}")))
            .as_ref()
            .map_err(|e| anyhow::anyhow!("{e}"))
    }

    pub fn parse(b: &[u8]) -> Result<Btf> {
        let Some(MAGIC) = u16_at(b, 0) else {
            bail!("not little-endian BTF");
        };
        let field = |i: usize| u32_at(b, 8 + 4 * i).map(|v| v as usize);
        let (Some(hdr), Some(type_off), Some(type_len), Some(str_off), Some(str_len)) = (
            u32_at(b, 4).map(|v| v as usize),
            field(0),
            field(1),
            field(2),
            field(3),
        ) else {
            bail!("truncated BTF header");
        };
        let types_at = hdr + type_off;
        let strings = b
            .get(hdr + str_off..hdr + str_off + str_len)
            .ok_or_else(|| anyhow::anyhow!("BTF strings out of bounds"))?
            .to_vec();
        // Type id 0 is void.
        let mut types = vec![Type {
            name: 0,
            kind: 0,
            size_or_type: 0,
            members: Vec::new(),
        }];
        let mut at = types_at;
        let end = types_at + type_len;
        while at < end {
            let (Some(name), Some(info), Some(size_or_type)) =
                (u32_at(b, at), u32_at(b, at + 4), u32_at(b, at + 8))
            else {
                bail!("truncated BTF type at {at}");
            };
            at += 12;
            let kind = (info >> 24) & 0x1f;
            let vlen = (info & 0xffff) as usize;
            let bitfields = info >> 31 != 0;
            let mut members = Vec::new();
            at += match kind {
                KIND_INT | KIND_VAR | KIND_DECL_TAG => 4,
                KIND_ARRAY => 12,
                KIND_STRUCT | KIND_UNION => {
                    for i in 0..vlen {
                        let m = at + 12 * i;
                        let (Some(name), Some(ty), Some(off)) =
                            (u32_at(b, m), u32_at(b, m + 4), u32_at(b, m + 8))
                        else {
                            bail!("truncated BTF member at {m}");
                        };
                        let bit_offset = if bitfields { off & 0xff_ffff } else { off };
                        members.push(Member {
                            name,
                            ty,
                            bit_offset,
                        });
                    }
                    12 * vlen
                }
                KIND_ENUM | KIND_FUNC_PROTO => 8 * vlen,
                KIND_DATASEC | KIND_ENUM64 => 12 * vlen,
                _ => 0,
            };
            types.push(Type {
                name,
                kind,
                size_or_type,
                members,
            });
        }
        let mut btf = Btf {
            types,
            strings,
            structs: HashMap::new(),
        };
        for (id, t) in btf.types.iter().enumerate() {
            // Forward declarations have their own kind: only complete structs land here.
            if t.kind == KIND_STRUCT && t.name != 0 {
                let name = btf.str_at(t.name).to_string();
                btf.structs.entry(name).or_insert(id as u32);
            }
        }
        Ok(btf)
    }

    fn str_at(&self, off: u32) -> &str {
        let s = self.strings.get(off as usize..).unwrap_or_default();
        let n = s.iter().position(|&c| c == 0).unwrap_or(s.len());
        std::str::from_utf8(&s[..n]).unwrap_or("")
    }

    /// Skips typedefs and qualifiers.
    fn resolve(&self, mut id: u32) -> u32 {
        for _ in 0..32 {
            match self.types.get(id as usize) {
                Some(t)
                    if matches!(
                        t.kind,
                        KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | KIND_TYPE_TAG
                    ) =>
                {
                    id = t.size_or_type
                }
                _ => break,
            }
        }
        id
    }

    /// Byte offset of `field` in struct `ty`, looking into anonymous members too.
    fn offset_in(&self, ty: u32, field: &str) -> Option<u32> {
        let t = self.types.get(self.resolve(ty) as usize)?;
        if t.kind != KIND_STRUCT && t.kind != KIND_UNION {
            return None;
        }
        for m in &t.members {
            if m.name != 0 && self.str_at(m.name) == field {
                return Some(m.bit_offset / 8);
            }
        }
        t.members
            .iter()
            .filter(|m| m.name == 0)
            .find_map(|m| Some(m.bit_offset / 8 + self.offset_in(m.ty, field)?))
    }

    /// The type of `field` in struct `ty` (anonymous members searched too).
    fn member_type(&self, ty: u32, field: &str) -> Option<u32> {
        let t = self.types.get(self.resolve(ty) as usize)?;
        for m in &t.members {
            if m.name != 0 && self.str_at(m.name) == field {
                return Some(m.ty);
            }
        }
        t.members
            .iter()
            .filter(|m| m.name == 0)
            .find_map(|m| self.member_type(m.ty, field))
    }

    /// Offset of a dotted path (`seccomp.mode`) in struct `name`.
    pub fn offset(&self, name: &str, path: &str) -> Option<u32> {
        let mut ty = *self.structs.get(name)?;
        let mut total = 0;
        for field in path.split('.') {
            total += self.offset_in(ty, field)?;
            ty = self.member_type(ty, field)?;
        }
        Some(total)
    }

    /// Size of struct `name`.
    pub fn size(&self, name: &str) -> Option<u32> {
        let t = self.types.get(*self.structs.get(name)? as usize)?;
        Some(t.size_or_type)
    }

    /// Whether member `path` of struct `name` is a pointer (a sanity check on what we read).
    fn is_pointer(&self, name: &str, path: &str) -> bool {
        let mut ty = match self.structs.get(name) {
            Some(t) => *t,
            None => return false,
        };
        for field in path.split('.') {
            match self.member_type(ty, field) {
                Some(t) => ty = t,
                None => return false,
            }
        }
        self.types
            .get(self.resolve(ty) as usize)
            .is_some_and(|t| t.kind == KIND_PTR)
    }
}

/// The offsets the origin header needs; None when any is missing from this kernel's BTF.
pub fn origin_offsets(btf: &Btf) -> Option<Offsets> {
    let ptrs = [
        ("task_struct", "nsproxy"),
        ("task_struct", "thread_pid"),
        ("nsproxy", "mnt_ns"),
        ("nsproxy", "ipc_ns"),
        ("upid", "ns"),
    ];
    if !ptrs.iter().all(|(s, f)| btf.is_pointer(s, f)) {
        return None;
    }
    let seccomp = btf.offset("task_struct", "seccomp.mode");
    Some(Offsets {
        task_nsproxy: btf.offset("task_struct", "nsproxy")?,
        task_thread_pid: btf.offset("task_struct", "thread_pid")?,
        task_seccomp_mode: seccomp.unwrap_or(0),
        task_seccomp_filters: seccomp
            .and(btf.offset("task_struct", "seccomp.filter_count"))
            .unwrap_or(0),
        nsproxy_mnt_ns: btf.offset("nsproxy", "mnt_ns")?,
        nsproxy_ipc_ns: btf.offset("nsproxy", "ipc_ns")?,
        mnt_ns_inum: btf.offset("mnt_namespace", "ns.inum")?,
        ipc_ns_inum: btf.offset("ipc_namespace", "ns.inum")?,
        pid_level: btf.offset("pid", "level")?,
        pid_numbers: btf.offset("pid", "numbers")?,
        upid_size: btf.size("upid")?,
        upid_ns: btf.offset("upid", "ns")?,
        pid_ns_inum: btf.offset("pid_namespace", "ns.inum")?,
        _pad: 0,
    })
}

/// This kernel's origin offsets, read once; all zero (the /proc fallback) without BTF, or when
/// CTRACE_NO_BTF_OFFSETS is set (to exercise the fallback on a kernel that has BTF).
pub fn kernel_origin_offsets() -> Offsets {
    static OFFSETS: std::sync::OnceLock<Offsets> = std::sync::OnceLock::new();
    *OFFSETS.get_or_init(|| {
        if std::env::var_os("CTRACE_NO_BTF_OFFSETS").is_some() {
            return Offsets::ZERO;
        }
        Btf::kernel()
            .ok()
            .and_then(origin_offsets)
            .unwrap_or(Offsets::ZERO)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The running kernel's BTF, when it has one: offsets agree with the layout pahole prints.
    #[test]
    fn running_kernel_offsets() {
        let Ok(btf) = Btf::from_sys_fs() else {
            return;
        };
        let o = origin_offsets(&btf).expect("every offset present");
        assert!(o.namespaces());
        assert_eq!(o.upid_size, 16, "int nr, then a pointer");
        assert_eq!(o.upid_ns, 8);
        // struct nsproxy: refcount, uts_ns, ipc_ns, mnt_ns (stable since 2.6).
        assert_eq!((o.nsproxy_ipc_ns, o.nsproxy_mnt_ns), (16, 24));
        assert_eq!(o.task_seccomp_filters, o.task_seccomp_mode + 4);
        assert!(btf.offset("task_struct", "no_such_field").is_none());
        assert!(btf.offset("no_such_struct", "x").is_none());
    }

    /// A hand-built BTF blob: struct outer { int a; struct { int b; }; struct inner *p; }.
    #[test]
    fn anonymous_members_and_pointers() {
        let strings = b"\0int\0outer\0a\0b\0p\0inner\0";
        let s = |name: &str| {
            let pat = format!("\0{name}\0");
            strings
                .windows(pat.len())
                .position(|w| w == pat.as_bytes())
                .unwrap() as u32
                + 1
        };
        let mut types: Vec<u32> = Vec::new();
        // 1: int (4 bytes).
        types.extend([s("int"), KIND_INT << 24, 4, 32]);
        // 2: anonymous struct { int b; } of 4 bytes.
        types.extend([0, (KIND_STRUCT << 24) | 1, 4, s("b"), 1, 0]);
        // 3: struct inner (empty), 4: pointer to it.
        types.extend([s("inner"), KIND_STRUCT << 24, 0]);
        types.extend([0, KIND_PTR << 24, 3]);
        // 5: struct outer { int a @0; anon @32 bits; inner *p @64 bits } of 16 bytes.
        types.extend([s("outer"), (KIND_STRUCT << 24) | 3, 16]);
        types.extend([s("a"), 1, 0, 0, 2, 32, s("p"), 4, 64]);
        let type_bytes: Vec<u8> = types.iter().flat_map(|v| v.to_le_bytes()).collect();
        let mut blob = Vec::new();
        blob.extend(MAGIC.to_le_bytes());
        blob.extend([1u8, 0]);
        for v in [24u32, 0, type_bytes.len() as u32, type_bytes.len() as u32] {
            blob.extend(v.to_le_bytes());
        }
        blob.extend((strings.len() as u32).to_le_bytes());
        blob.extend(&type_bytes);
        blob.extend(strings);
        let btf = Btf::parse(&blob).unwrap();
        assert_eq!(btf.offset("outer", "a"), Some(0));
        assert_eq!(btf.offset("outer", "b"), Some(4));
        assert_eq!(btf.offset("outer", "p"), Some(8));
        assert_eq!(btf.size("outer"), Some(16));
        assert!(btf.is_pointer("outer", "p"));
        assert!(!btf.is_pointer("outer", "a"));
        assert!(Btf::parse(b"nope").is_err());
    }
}
