//! The paths of a traced call in the process's view, from what the kernel captured at the call:
//! the path passed, and what a relative one starts from (its dfd or the cwd, walked up to the
//! process's root in the kernel). /proc of the process, or of its nearest living ancestor, is
//! read only when the kernel could not walk (no BTF offsets, or a path deeper than the walk).

use tracer_common::overlay::{OverlayEvent, PATH_LEN, how};

use super::mounts::{normalize, resolve};

pub fn path_str(b: &[u8]) -> String {
    let n = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..n]).into_owned()
}

/// A walk from the kernel (names leaf first, each ending in NUL, an empty one last) as an
/// absolute path.
pub fn walked(buf: &[u8]) -> String {
    let mut names: Vec<String> = buf
        .split(|&c| c == 0)
        .take_while(|n| !n.is_empty())
        .map(|n| String::from_utf8_lossy(n).into_owned())
        .collect();
    names.reverse();
    format!("/{}", names.join("/"))
}

/// Where the facts came from: the kernel at the call, or /proc afterwards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Kernel,
    Proc,
}

pub struct CallPaths {
    pub first: Option<String>,
    pub second: Option<String>,
    /// An fd-based call: the kernel read the file's facts through the fd table.
    pub fd_based: bool,
    pub source: Source,
}

fn join(base: &str, rel: &str) -> String {
    if rel.is_empty() {
        return normalize(base);
    }
    normalize(&format!("{base}/{rel}"))
}

/// Both paths of `ev`; `viewer` is whose /proc to read if the kernel's walk is missing.
pub fn of(ev: &OverlayEvent, viewer: u32) -> CallPaths {
    let whole = ev.how & how::CUT == 0;
    let mut source = Source::Kernel;
    let mut one = |path: &str, dfd: i32, base: Option<&[u8; tracer_common::overlay::WALK_LEN]>| {
        if path.starts_with('/') {
            return Some(normalize(path));
        }
        match base {
            Some(b) if whole => Some(join(&walked(b), path)),
            _ => {
                source = Source::Proc;
                resolve(viewer, dfd, path)
            }
        }
    };
    let p1 = path_str(&ev.path[..PATH_LEN]);
    // One walk per call: `base` is the first path's base, or the second's when BASE2.
    let base1 = (ev.how & how::BASE != 0).then_some(&ev.base);
    let first = one(&p1, ev.dfd, base1);
    let p2 = path_str(&ev.path2);
    let second = (!p2.is_empty()).then(|| {
        let base2 = if ev.how & how::BASE2 != 0 {
            Some(&ev.base)
        } else if ev.dfd2 == ev.dfd {
            base1
        } else {
            None
        };
        one(&p2, ev.dfd2, base2)
    });
    CallPaths {
        first,
        second: second.flatten(),
        fd_based: ev.how & how::FILE != 0,
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk_of(names: &[&str]) -> [u8; tracer_common::overlay::WALK_LEN] {
        let mut b = [0u8; tracer_common::overlay::WALK_LEN];
        let mut i = 0;
        for n in names {
            b[i..i + n.len()].copy_from_slice(n.as_bytes());
            i += n.len() + 1;
        }
        b
    }

    #[test]
    fn a_kernel_walk_reads_leaf_first() {
        assert_eq!(walked(&walk_of(&["c", "b", "a"])), "/a/b/c");
        assert_eq!(walked(&walk_of(&[])), "/");
    }

    #[test]
    fn relative_paths_start_from_the_walk_and_need_no_proc() {
        let mut ev = OverlayEvent::ZERO;
        ev.path[..6].copy_from_slice(b"../f.d");
        ev.dfd = tracer_common::overlay::AT_FDCWD;
        ev.dfd2 = ev.dfd;
        ev.path2[..1].copy_from_slice(b"g");
        ev.base = walk_of(&["work", "data"]);
        ev.how = how::BASE;
        // pid 0 has no /proc entry: only the walk can answer.
        let p = of(&ev, 0);
        assert_eq!(p.first.as_deref(), Some("/data/f.d"));
        assert_eq!(p.second.as_deref(), Some("/data/work/g"));
        assert_eq!(p.source, Source::Kernel);
        ev.how |= how::CUT;
        assert_eq!(of(&ev, 0).source, Source::Proc);
    }

    #[test]
    fn an_fd_call_is_the_file_itself() {
        let mut ev = OverlayEvent::ZERO;
        ev.dfd = 3;
        ev.base = walk_of(&["f", "merged"]);
        ev.how = how::BASE | how::FILE;
        let p = of(&ev, 0);
        assert_eq!(p.first.as_deref(), Some("/merged/f"));
        assert!(p.fd_based);
    }
}
