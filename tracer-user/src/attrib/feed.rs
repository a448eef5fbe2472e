//! The `cgroup_mkdir` probe's ring buffer: (cgroup id, path) of each cgroup born.

use tracer_common::origin::{CGROUP_PATH_LEN, CgroupBirth};

pub struct CgroupFeed {
    ring: crate::events::Ring,
}

impl CgroupFeed {
    pub fn new(ring: crate::events::Ring) -> CgroupFeed {
        CgroupFeed { ring }
    }

    pub fn drain(&mut self) -> Vec<(u64, String)> {
        let mut out = Vec::new();
        while let Some(item) = self.ring.next() {
            if item.len() < std::mem::size_of::<CgroupBirth>() {
                continue;
            }
            let b: CgroupBirth = unsafe { std::ptr::read_unaligned(item.as_ptr().cast()) };
            out.push((b.id, path_of(&b.path)));
        }
        out
    }
}

fn path_of(b: &[u8; CGROUP_PATH_LEN]) -> String {
    let n = b.iter().position(|&c| c == 0).unwrap_or(CGROUP_PATH_LEN);
    String::from_utf8_lossy(&b[..n]).into_owned()
}
