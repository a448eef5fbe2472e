//! The data copy-up that completes a metacopy. Under `metacopy=on` a chmod (chown, utimes, an
//! xattr change) copies up metadata only: the upper file is born holding the
//! `overlay.metacopy` xattr and no data. The first open for write or truncate then copies the
//! whole lower file into that upper file and removes the xattr. The upper file was not born
//! during that call, so the birth-time proof of a copy-up cannot see it; this module proves it
//! from what the upper file was before the call and what it is after.

use std::{collections::HashMap, ffi::CString};

use super::mounts::Stat;

/// The xattr that marks an upper file without its data: `trusted.` by default, `user.` on a
/// mount with `userxattr` (rootless).
const METACOPY_XATTRS: [&std::ffi::CStr; 2] =
    [c"trusted.overlay.metacopy", c"user.overlay.metacopy"];

/// Whether the upper file at `path` still waits for its data (holds the metacopy xattr).
pub fn carries_metacopy(path: &str) -> bool {
    let Ok(c) = CString::new(path) else {
        return false;
    };
    METACOPY_XATTRS.iter().any(|name| {
        // SAFETY: both strings are NUL-terminated and outlive the call; a null buffer of size 0
        // asks only for the value's size, so the kernel writes nothing.
        let rc = unsafe { libc::lgetxattr(c.as_ptr(), name.as_ptr(), std::ptr::null_mut(), 0) };
        rc >= 0
    })
}

/// How ctrace knows the upper file had no data before the call.
pub const SEEN: &str = "metadata_copy_up_seen";
pub const KERNEL: &str = "kernel_copy_up";

/// Upper files that a metadata-only copy-up of this run left waiting for their data, by upper
/// path, with the upper file's inode number: a file later deleted and copied up again is another
/// file. (Not its birth time: upper layers without one, tmpfs on old kernels, stand in the change
/// time, which the data copy-up moves; the data lands in the same inode.)
#[derive(Default)]
pub struct Metacopied {
    by_upper: HashMap<String, u64>,
}

/// What one call on a file whose upper copy already exists tells.
pub struct Call<'a> {
    /// The upper file's path and its statx after the call.
    pub upper_file: &'a str,
    pub after: &'a Stat,
    /// The call's start (unix seconds) and the slack of the inode clock.
    pub at: f64,
    pub slack: f64,
    /// Kernel tier: the copy-ups `ovl_copy_up_one` made inside the call (None: tracepoint tier).
    pub kernel_copy_ups: Option<u32>,
    /// The mount copies metadata only on a metadata change.
    pub metacopy_on: bool,
}

impl Metacopied {
    /// A metadata-only copy-up of this run made `upper_file`, inode `ino`.
    pub fn remember(&mut self, upper_file: String, ino: u64) {
        self.by_upper.insert(upper_file, ino);
    }

    pub fn len(&self) -> usize {
        self.by_upper.len()
    }

    pub fn clear(&mut self) {
        self.by_upper.clear()
    }

    /// For an open for write or a truncate that succeeded: how it is known that this call
    /// copied the data up (`SEEN` or `KERNEL`), or None. Both need the after-fact, the xattr
    /// gone and the upper inode changed no earlier than the call (removing the xattr changes
    /// it); the before-fact is a metadata-only copy-up of this run or, in the kernel tier, the
    /// kernel's copy-up inside the call of a file whose upper copy was born before it (files
    /// metacopied before the trace began).
    pub fn completed_by(&mut self, c: &Call) -> Option<&'static str> {
        if c.after.is_dir || carries_metacopy(c.upper_file) || c.after.ctime + c.slack < c.at {
            return None;
        }
        // The xattr is gone: whatever happens below, the file waits for nothing any more.
        let seen = self
            .by_upper
            .remove(c.upper_file)
            .is_some_and(|ino| ino == c.after.ino);
        let existed_before = c.after.btime.is_some_and(|b| b + c.slack < c.at);
        match c.kernel_copy_ups {
            // The kernel tier also needs the kernel's word that it copied up in this call: the
            // data may have come up in a call outside the filter.
            Some(n) if n > 0 && seen => Some(SEEN),
            Some(n) if n > 0 && existed_before && c.metacopy_on => Some(KERNEL),
            Some(_) => None,
            None => seen.then_some(SEEN),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(btime: f64, ctime: f64) -> Stat {
        Stat {
            btime: Some(btime),
            ctime,
            size: 1,
            is_dir: false,
            nlink: 1,
            ino: 1,
            dev: (0, 0),
        }
    }

    fn call<'a>(path: &'a str, after: &'a Stat, kernel: Option<u32>) -> Call<'a> {
        Call {
            upper_file: path,
            after,
            at: 100.0,
            slack: 0.025,
            kernel_copy_ups: kernel,
            metacopy_on: true,
        }
    }

    #[test]
    fn a_metacopy_seen_this_run_is_completed_once() {
        // No such file: no xattr, as after the data copy-up.
        let p = "/nonexistent/ctrace-metacopy-test";
        let after = stat(99.0, 100.5);
        let mut m = Metacopied::default();
        m.remember(p.into(), 1);
        assert_eq!(m.completed_by(&call(p, &after, None)), Some(SEEN));
        assert_eq!(m.completed_by(&call(p, &after, None)), None);
        m.remember(p.into(), 1);
        assert_eq!(m.completed_by(&call(p, &after, Some(1))), Some(SEEN));
    }

    #[test]
    fn the_kernel_tier_covers_files_metacopied_before_the_trace() {
        let p = "/nonexistent/ctrace-metacopy-test";
        let after = stat(50.0, 100.5);
        let mut m = Metacopied::default();
        assert_eq!(m.completed_by(&call(p, &after, Some(1))), Some(KERNEL));
        // No copy-up in the call, or the tracepoint tier: nothing to go on.
        assert_eq!(m.completed_by(&call(p, &after, Some(0))), None);
        assert_eq!(m.completed_by(&call(p, &after, None)), None);
    }

    #[test]
    fn an_upper_file_unchanged_since_before_the_call_completed_nothing() {
        let p = "/nonexistent/ctrace-metacopy-test";
        let after = stat(50.0, 60.0);
        let mut m = Metacopied::default();
        m.remember(p.into(), 1);
        assert_eq!(m.completed_by(&call(p, &after, Some(1))), None);
    }
}
