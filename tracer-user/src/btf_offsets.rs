//! Byte offsets of kernel struct members, read from the kernel's BTF (/sys/kernel/btf/vmlinux).
//! The probes walk kernel structs (a task's fd table, a dentry's parents) with plain reads at
//! these offsets, handed to them as load-time globals: aya's probes have no CO-RE relocations.
//!
//! A small reader of the BTF format: struct and union members by name (through anonymous
//! members), and the type behind a member (through typedefs and qualifiers).

use std::{collections::HashMap, sync::OnceLock};

use anyhow::{Context, Result, anyhow, bail};
use tracer_common::overlay::off;

const KIND_INT: u32 = 1;
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
    /// Bits from the start of the struct.
    bit_offset: u32,
}

struct Type {
    kind: u32,
    name: u32,
    /// Size, or the referred type of a pointer, typedef or qualifier.
    size_or_type: u32,
    members: Vec<Member>,
}

pub struct Btf {
    /// Indexed by type id (0 is void).
    types: Vec<Type>,
    strings: Vec<u8>,
    /// Named structs and unions (the first with members wins).
    by_name: HashMap<String, u32>,
}

fn u32_at(b: &[u8], off: usize) -> Result<u32> {
    let s = b
        .get(off..off + 4)
        .ok_or_else(|| anyhow!("BTF truncated at {off}"))?;
    Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

impl Btf {
    pub fn parse(data: &[u8]) -> Result<Btf> {
        if data.len() < 24 || u16::from_le_bytes([data[0], data[1]]) != 0xeb9f {
            bail!("not little-endian BTF");
        }
        let hdr_len = u32_at(data, 4)? as usize;
        let (type_off, type_len) = (u32_at(data, 8)? as usize, u32_at(data, 12)? as usize);
        let (str_off, str_len) = (u32_at(data, 16)? as usize, u32_at(data, 20)? as usize);
        let strings = data
            .get(hdr_len + str_off..hdr_len + str_off + str_len)
            .ok_or_else(|| anyhow!("BTF string section out of bounds"))?
            .to_vec();
        let mut types = vec![Type {
            kind: 0,
            name: 0,
            size_or_type: 0,
            members: Vec::new(),
        }];
        let (mut p, end) = (hdr_len + type_off, hdr_len + type_off + type_len);
        while p < end {
            let (name, info, st) = (u32_at(data, p)?, u32_at(data, p + 4)?, u32_at(data, p + 8)?);
            p += 12;
            let (kind, vlen) = ((info >> 24) & 0x1f, (info & 0xffff) as usize);
            let bitfields = info >> 31 == 1;
            let mut members = Vec::new();
            p += match kind {
                KIND_INT | KIND_VAR | KIND_DECL_TAG => 4,
                KIND_ARRAY => 12,
                KIND_STRUCT | KIND_UNION => {
                    for i in 0..vlen {
                        let m = p + i * 12;
                        let off = u32_at(data, m + 8)?;
                        members.push(Member {
                            name: u32_at(data, m)?,
                            ty: u32_at(data, m + 4)?,
                            bit_offset: if bitfields { off & 0xff_ffff } else { off },
                        });
                    }
                    vlen * 12
                }
                KIND_ENUM | KIND_FUNC_PROTO => vlen * 8,
                KIND_DATASEC | KIND_ENUM64 => vlen * 12,
                _ => 0,
            };
            types.push(Type {
                kind,
                name,
                size_or_type: st,
                members,
            });
        }
        let mut btf = Btf {
            types,
            strings,
            by_name: HashMap::new(),
        };
        for (id, t) in btf.types.iter().enumerate() {
            if matches!(t.kind, KIND_STRUCT | KIND_UNION) && !t.members.is_empty() {
                let n = btf.str_at(t.name).to_string();
                btf.by_name.entry(n).or_insert(id as u32);
            }
        }
        Ok(btf)
    }

    pub fn kernel() -> Result<Btf> {
        let path = "/sys/kernel/btf/vmlinux";
        Btf::parse(&std::fs::read(path).with_context(|| format!("reading {path}"))?)
    }

    fn str_at(&self, off: u32) -> &str {
        let s = self.strings.get(off as usize..).unwrap_or_default();
        let n = s.iter().position(|&c| c == 0).unwrap_or(s.len());
        std::str::from_utf8(&s[..n]).unwrap_or("")
    }

    /// The type behind typedefs and qualifiers.
    fn strip(&self, mut id: u32) -> u32 {
        for _ in 0..16 {
            match self.types.get(id as usize).map(|t| t.kind) {
                Some(KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | KIND_TYPE_TAG) => {
                    id = self.types[id as usize].size_or_type
                }
                _ => break,
            }
        }
        id
    }

    /// (bit offset, type id) of member `name` of struct or union `id`, looking into anonymous
    /// members.
    fn member(&self, id: u32, name: &str) -> Option<(u32, u32)> {
        let t = self.types.get(self.strip(id) as usize)?;
        for m in &t.members {
            if m.name == 0 {
                if let Some((off, ty)) = self.member(m.ty, name) {
                    return Some((m.bit_offset + off, ty));
                }
            } else if self.str_at(m.name) == name {
                return Some((m.bit_offset, m.ty));
            }
        }
        None
    }

    /// Byte offset of `path` ("f_path.dentry") in struct `strukt`.
    pub fn offset(&self, strukt: &str, path: &str) -> Result<u32> {
        let mut id = *self
            .by_name
            .get(strukt)
            .ok_or_else(|| anyhow!("no struct {strukt} in the kernel's BTF"))?;
        let mut bits = 0;
        for part in path.split('.') {
            let (off, ty) = self
                .member(id, part)
                .ok_or_else(|| anyhow!("no member {path} in struct {strukt}"))?;
            bits += off;
            id = ty;
        }
        if bits % 8 != 0 {
            bail!("{strukt}.{path} is a bitfield");
        }
        Ok(bits / 8)
    }
}

/// The offsets the overlay probes walk (`tracer_common::overlay::off`), all zero (the probes
/// then read nothing and user space falls back to /proc) when any is missing.
pub fn overlay() -> [u32; off::COUNT] {
    static OFFSETS: OnceLock<[u32; off::COUNT]> = OnceLock::new();
    *OFFSETS.get_or_init(|| match Btf::kernel().and_then(|b| overlay_from(&b)) {
        Ok(o) => o,
        Err(e) => {
            log::info!("overlay: kernel struct offsets unavailable ({e:#}): /proc fallback");
            [0; off::COUNT]
        }
    })
}

fn overlay_from(btf: &Btf) -> Result<[u32; off::COUNT]> {
    const WANTED: [(usize, &str, &str); off::VALID] = [
        (off::TASK_FS, "task_struct", "fs"),
        (off::TASK_FILES, "task_struct", "files"),
        (off::FS_ROOT, "fs_struct", "root"),
        (off::FS_PWD, "fs_struct", "pwd"),
        (off::PATH_MNT, "path", "mnt"),
        (off::PATH_DENTRY, "path", "dentry"),
        (off::FILES_FDT, "files_struct", "fdt"),
        (off::FDT_MAX_FDS, "fdtable", "max_fds"),
        (off::FDT_FD, "fdtable", "fd"),
        (off::FILE_PATH, "file", "f_path"),
        (off::FILE_INODE, "file", "f_inode"),
        (off::INODE_SB, "inode", "i_sb"),
        (off::INODE_INO, "inode", "i_ino"),
        (off::INODE_SIZE, "inode", "i_size"),
        (off::INODE_NLINK, "inode", "__i_nlink"),
        (off::SB_MAGIC, "super_block", "s_magic"),
        (off::SB_DEV, "super_block", "s_dev"),
        (off::DENTRY_PARENT, "dentry", "d_parent"),
        (off::DENTRY_NAME, "dentry", "d_name"),
        (off::QSTR_NAME, "qstr", "name"),
        (off::VFSMOUNT_ROOT, "vfsmount", "mnt_root"),
        (off::MOUNT_MNT, "mount", "mnt"),
        (off::MOUNT_PARENT, "mount", "mnt_parent"),
        (off::MOUNT_MOUNTPOINT, "mount", "mnt_mountpoint"),
    ];
    let mut out = [0; off::COUNT];
    for (i, strukt, member) in WANTED {
        out[i] = btf.offset(strukt, member)?;
    }
    out[off::VALID] = 1;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_well_known_offsets_from_this_kernel() {
        let Ok(btf) = Btf::kernel() else {
            return; // no BTF on this kernel: the probes fall back, nothing to check here
        };
        // Stable for years on x86_64: struct path is two pointers.
        assert_eq!(btf.offset("path", "mnt").unwrap(), 0);
        assert_eq!(btf.offset("path", "dentry").unwrap(), 8);
        assert_eq!(btf.offset("qstr", "name").unwrap(), 8);
        // Through an anonymous union.
        assert!(btf.offset("inode", "__i_nlink").is_ok());
        assert_eq!(
            btf.offset("file", "f_path.dentry").unwrap(),
            btf.offset("file", "f_path").unwrap() + 8
        );
        assert!(btf.offset("inode", "no_such_member").is_err());
        assert!(btf.offset("no_such_struct", "x").is_err());
    }

    #[test]
    fn every_overlay_offset_is_found_here() {
        if let Ok(btf) = Btf::kernel() {
            let o = overlay_from(&btf).unwrap();
            assert_eq!(o[off::VALID], 1);
            assert_eq!(o[off::PATH_DENTRY], 8);
        }
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(Btf::parse(b"nope").is_err());
        assert!(Btf::parse(&[0x9f, 0xeb, 1, 0, 24, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0]).is_err());
    }
}
