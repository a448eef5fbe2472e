//! Member offsets of kernel structs from the running kernel's BTF (/sys/kernel/btf/vmlinux), for
//! probes that read a task's fields directly (aya-ebpf has no CO-RE relocations, so the offsets
//! travel to the kernel side in a map or global).

use std::collections::HashMap;

use anyhow::{Context as _, Result, bail};

const MAGIC: u16 = 0xeb9f;
const KIND_STRUCT: u32 = 4;
const KIND_UNION: u32 = 5;
const KIND_TYPEDEF: u32 = 8;
const KIND_VOLATILE: u32 = 9;
const KIND_CONST: u32 = 10;
const KIND_RESTRICT: u32 = 11;
const KIND_TYPE_TAG: u32 = 18;

struct Member {
    name: u32,
    ty: u32,
    /// In bits.
    offset: u32,
}

struct Type {
    kind: u32,
    name: u32,
    /// size (struct, union) or the referred type (typedef, qualifiers).
    size_or_type: u32,
    members: Vec<Member>,
}

pub struct Btf {
    types: Vec<Type>,
    strings: Vec<u8>,
    structs: HashMap<String, u32>,
}

fn u32_at(b: &[u8], off: usize) -> Result<u32> {
    let s = b.get(off..off + 4).context("BTF is truncated")?;
    Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// Bytes after the common header of a type of this kind with `vlen` entries.
fn trailing(kind: u32, vlen: usize) -> Result<usize> {
    Ok(match kind {
        1 | 14 | 17 => 4,             // int, var, decl_tag
        3 => 12,                      // array
        4 | 5 | 15 | 19 => 12 * vlen, // struct, union, datasec, enum64
        6 | 13 => 8 * vlen,           // enum, func_proto
        2 | 7..=12 | 16 | 18 => 0,
        k => bail!("unknown BTF kind {k}"),
    })
}

impl Btf {
    pub fn from_sys_fs() -> Result<Btf> {
        let data =
            std::fs::read("/sys/kernel/btf/vmlinux").context("reading /sys/kernel/btf/vmlinux")?;
        Btf::parse(&data)
    }

    pub fn parse(d: &[u8]) -> Result<Btf> {
        if d.len() < 24 || u16::from_le_bytes([d[0], d[1]]) != MAGIC {
            bail!("not little-endian BTF");
        }
        let hdr = u32_at(d, 4)? as usize;
        let (type_off, type_len) = (u32_at(d, 8)? as usize, u32_at(d, 12)? as usize);
        let (str_off, str_len) = (u32_at(d, 16)? as usize, u32_at(d, 20)? as usize);
        let tsec = d
            .get(hdr + type_off..hdr + type_off + type_len)
            .context("BTF type section out of bounds")?;
        let strings = d
            .get(hdr + str_off..hdr + str_off + str_len)
            .context("BTF string section out of bounds")?
            .to_vec();
        // Type ids start at 1.
        let mut types = vec![Type {
            kind: 0,
            name: 0,
            size_or_type: 0,
            members: vec![],
        }];
        let mut off = 0;
        while off + 12 <= tsec.len() {
            let (name, info, sot) = (
                u32_at(tsec, off)?,
                u32_at(tsec, off + 4)?,
                u32_at(tsec, off + 8)?,
            );
            let kind = (info >> 24) & 0x1f;
            let vlen = (info & 0xffff) as usize;
            let bitfields = info >> 31 != 0;
            off += 12;
            let mut members = vec![];
            if kind == KIND_STRUCT || kind == KIND_UNION {
                for i in 0..vlen {
                    let m = off + 12 * i;
                    let raw = u32_at(tsec, m + 8)?;
                    members.push(Member {
                        name: u32_at(tsec, m)?,
                        ty: u32_at(tsec, m + 4)?,
                        offset: if bitfields { raw & 0xff_ffff } else { raw },
                    });
                }
            }
            off += trailing(kind, vlen)?;
            types.push(Type {
                kind,
                name,
                size_or_type: sot,
                members,
            });
        }
        let mut btf = Btf {
            types,
            strings,
            structs: HashMap::new(),
        };
        for (id, t) in btf.types.iter().enumerate() {
            if t.kind == KIND_STRUCT && t.name != 0 {
                let name = btf.str_at(t.name).to_string();
                // The first definition with members wins (forward-only entries have none).
                btf.structs.entry(name).or_insert(id as u32);
            }
        }
        Ok(btf)
    }

    fn str_at(&self, off: u32) -> &str {
        let s = self.strings.get(off as usize..).unwrap_or_default();
        let end = s.iter().position(|&b| b == 0).unwrap_or(s.len());
        std::str::from_utf8(&s[..end]).unwrap_or("")
    }

    /// Through typedefs and qualifiers to the type itself.
    fn resolve(&self, mut id: u32) -> Option<&Type> {
        for _ in 0..16 {
            let t = self.types.get(id as usize)?;
            match t.kind {
                KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | KIND_TYPE_TAG => {
                    id = t.size_or_type
                }
                _ => return Some(t),
            }
        }
        None
    }

    /// Bit offset of `name` in `t`, looking into anonymous structs and unions; with its type.
    fn member(&self, t: &Type, name: &str) -> Option<(u32, u32)> {
        for m in &t.members {
            if m.name != 0 && self.str_at(m.name) == name {
                return Some((m.offset, m.ty));
            }
        }
        for m in t.members.iter().filter(|m| m.name == 0) {
            let inner = self.resolve(m.ty)?;
            if let Some((o, ty)) = self.member(inner, name) {
                return Some((m.offset + o, ty));
            }
        }
        None
    }

    /// Byte offset of a member path (`"__sk_common.skc_family"`) in `struct name`.
    pub fn offset(&self, name: &str, path: &str) -> Result<u32> {
        let id = *self
            .structs
            .get(name)
            .with_context(|| format!("struct {name} is not in the kernel's BTF"))?;
        let mut t = &self.types[id as usize];
        let mut bits = 0;
        for part in path.split('.') {
            let (o, ty) = self
                .member(t, part)
                .with_context(|| format!("struct {name} has no member {path}"))?;
            bits += o;
            t = self.resolve(ty).context("BTF type chain too long")?;
        }
        if bits % 8 != 0 {
            bail!("{name}.{path} is a bitfield");
        }
        Ok(bits / 8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_task_struct_offsets_from_the_running_kernel() {
        let Ok(btf) = Btf::from_sys_fs() else {
            return; // a kernel without BTF: the fallback path is tested elsewhere
        };
        let pid = btf.offset("task_struct", "pid").unwrap();
        let tgid = btf.offset("task_struct", "tgid").unwrap();
        assert_eq!(tgid, pid + 4, "pid_t pid; pid_t tgid; are adjacent");
        assert!(btf.offset("sock", "__sk_common.skc_family").is_ok());
        assert!(btf.offset("task_struct", "no_such_member").is_err());
    }
}
