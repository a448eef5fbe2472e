//! Mount tables per mount namespace, keyed by the namespace's inode (what the kernel puts in
//! every event's origin): read from a living member when the namespace is first seen and then
//! reused, so a path in an event is resolved against the table of the namespace it was made
//! in, though the process that made the call is gone (a one-shot `docker exec`).

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// A cached table is re-read at most this often (mounts come and go: volumes, tmpfs).
const FRESH_FOR: Duration = Duration::from_secs(1);
/// A namespace no process was found in is looked for again only after this.
const RETRY_AFTER: Duration = Duration::from_millis(500);
const LIMIT: usize = 4096;

struct Table {
    text: Rc<str>,
    read_at: Instant,
    /// The process it was read from, tried first next time.
    member: u32,
}

#[derive(Default)]
pub struct MountTables {
    tables: HashMap<u32, Table>,
    not_found: HashMap<u32, Instant>,
}

/// The mount namespace inode of a living process.
pub fn mntns_of(pid: u32) -> Option<u32> {
    let ino = fs::metadata(format!("/proc/{pid}/ns/mnt")).ok()?.ino();
    u32::try_from(ino).ok()
}

fn read_from(pid: u32, ns: u32) -> Option<String> {
    let text = fs::read_to_string(format!("/proc/{pid}/mountinfo")).ok()?;
    // Checked after the read: the pid may have been reused by a process elsewhere.
    (mntns_of(pid) == Some(ns)).then_some(text)
}

/// Any living process in namespace `ns`.
fn find_member(ns: u32) -> Option<u32> {
    fs::read_dir("/proc")
        .ok()?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .find(|&pid| mntns_of(pid) == Some(ns))
}

impl MountTables {
    /// The mountinfo text of namespace `ns`; `hint` is a process that was in it (the event's).
    pub fn mountinfo(&mut self, ns: u32, hint: u32) -> Option<Rc<str>> {
        if let Some(t) = self.tables.get(&ns)
            && t.read_at.elapsed() < FRESH_FOR
        {
            return Some(t.text.clone());
        }
        let cached_member = self.tables.get(&ns).map(|t| t.member);
        let fresh = [Some(hint), cached_member]
            .into_iter()
            .flatten()
            .find_map(|p| Some((p, read_from(p, ns)?)))
            .or_else(|| {
                if self
                    .not_found
                    .get(&ns)
                    .is_some_and(|t| t.elapsed() < RETRY_AFTER)
                {
                    return None;
                }
                let found = find_member(ns).and_then(|p| Some((p, read_from(p, ns)?)));
                if found.is_none() {
                    self.not_found.insert(ns, Instant::now());
                }
                found
            });
        match fresh {
            Some((member, text)) => {
                if self.tables.len() >= LIMIT {
                    self.tables.clear();
                }
                let text: Rc<str> = text.into();
                self.tables.insert(
                    ns,
                    Table {
                        text: text.clone(),
                        read_at: Instant::now(),
                        member,
                    },
                );
                Some(text)
            }
            // The namespace is gone: its last table is still the best answer.
            None => self.tables.get(&ns).map(|t| t.text.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_namespace_from_any_member_and_cached() {
        let me = std::process::id();
        let ns = mntns_of(me).unwrap();
        let mut t = MountTables::default();
        // A hint that is not in the namespace (pid 0 has no /proc entry): found by a scan.
        let text = t
            .mountinfo(ns, 0)
            .expect("some process is in our namespace");
        assert!(text.contains(" / "), "{text}");
        assert!(Rc::ptr_eq(&text, &t.mountinfo(ns, me).unwrap()), "cached");
        assert!(t.mountinfo(1, 0).is_none(), "no namespace has inode 1");
    }
}
