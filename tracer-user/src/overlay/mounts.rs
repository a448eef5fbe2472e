//! Overlay mounts as a process sees them (/proc/PID/mountinfo), paths resolved the way the
//! kernel did, and the upper and lower layers looked at from the host.

use std::fs;

use tracer_common::overlay::AT_FDCWD;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mount {
    pub mount_point: String,
    /// The directory of the filesystem that is mounted there ("/" for a whole overlay).
    pub root: String,
    /// The superblock's device (major, minor).
    pub dev: (u32, u32),
    pub fstype: String,
    pub lower: Vec<String>,
    pub upper: Option<String>,
    /// The mount's own redirect_dir, index and metacopy options, when given.
    pub redirect_dir: Option<String>,
    pub index: Option<String>,
    pub metacopy: Option<String>,
    /// Taken for the namespace's root from the host's table (the namespace was gone): what
    /// else the namespace had mounted is unknown.
    pub inferred: bool,
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push(u8::from_str_radix(&s[i + 1..i + 4], 8).unwrap_or(b'?'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let root = unescape(left.split_whitespace().nth(3)?);
            let mount_point = unescape(left.split_whitespace().nth(4)?);
            let dev = left
                .split_whitespace()
                .nth(2)?
                .split_once(':')
                .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)));
            let mut r = right.split_whitespace();
            let fstype = r.next()?.to_string();
            let _source = r.next();
            let opts = r.next().unwrap_or("");
            let mut m = Mount {
                mount_point,
                root,
                dev: dev.unwrap_or_default(),
                fstype,
                ..Default::default()
            };
            for kv in opts.split(',') {
                match kv.split_once('=') {
                    Some(("lowerdir", v)) => m.lower = v.split(':').map(unescape).collect(),
                    Some(("upperdir", v)) => m.upper = Some(unescape(v)),
                    Some(("redirect_dir", v)) => m.redirect_dir = Some(v.to_string()),
                    Some(("index", v)) => m.index = Some(v.to_string()),
                    Some(("metacopy", v)) => m.metacopy = Some(v.to_string()),
                    _ => {}
                }
            }
            Some(m)
        })
        .collect()
}

/// The mount that holds `path`: the last-mounted one with the longest matching mount point.
pub fn mount_of<'a>(mounts: &'a [Mount], path: &str) -> Option<&'a Mount> {
    let mut best: Option<&Mount> = None;
    for m in mounts {
        let p = m.mount_point.trim_end_matches('/');
        let inside =
            path == m.mount_point || path.starts_with(&format!("{p}/")) || m.mount_point == "/";
        if inside && best.is_none_or(|b| m.mount_point.len() >= b.mount_point.len()) {
            best = Some(m);
        }
    }
    best
}

/// `path` relative to its mount point, without a leading slash.
pub fn relative<'a>(m: &Mount, path: &'a str) -> &'a str {
    path[m.mount_point.trim_end_matches('/').len().min(path.len())..].trim_start_matches('/')
}

pub fn mounts_of(pid: u32) -> Vec<Mount> {
    fs::read_to_string(format!("/proc/{pid}/mountinfo"))
        .or_else(|_| fs::read_to_string("/proc/self/mountinfo"))
        .map(|t| parse_mountinfo(&t))
        .unwrap_or_default()
}

/// `.` and `..` removed the way the kernel walks them (symlinks aside).
pub fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

/// An absolute path in the process's view, from what it passed to the syscall.
pub fn resolve(pid: u32, dfd: i32, path: &str) -> Option<String> {
    if path.starts_with('/') {
        return Some(normalize(path));
    }
    let base = if dfd == AT_FDCWD {
        fs::read_link(format!("/proc/{pid}/cwd")).ok()?
    } else {
        fs::read_link(format!("/proc/{pid}/fd/{dfd}")).ok()?
    };
    let base = base.to_string_lossy();
    Some(normalize(&format!("{base}/{path}")))
}

/// What statx says of a file: (birth time in unix seconds if the fs records it, change time,
/// size, is a directory).
pub struct Stat {
    pub btime: Option<f64>,
    pub ctime: f64,
    pub size: u64,
    pub is_dir: bool,
    pub nlink: u32,
    pub ino: u64,
    pub dev: (u32, u32),
}

pub fn stat(path: &str) -> Option<Stat> {
    let c = std::ffi::CString::new(path).ok()?;
    let mut st: libc::statx = unsafe { std::mem::zeroed() };
    let rc = unsafe {
        libc::statx(
            libc::AT_FDCWD,
            c.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
            libc::STATX_BASIC_STATS | libc::STATX_BTIME,
            &mut st,
        )
    };
    if rc != 0 {
        return None;
    }
    let t = |ts: libc::statx_timestamp| ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9;
    Some(Stat {
        btime: (st.stx_mask & libc::STATX_BTIME != 0).then(|| t(st.stx_btime)),
        ctime: t(st.stx_ctime),
        size: st.stx_size,
        is_dir: u32::from(st.stx_mode) & libc::S_IFMT == libc::S_IFDIR,
        nlink: st.stx_nlink,
        ino: st.stx_ino,
        dev: (st.stx_dev_major, st.stx_dev_minor),
    })
}

/// Free bytes on the filesystem of `path`.
pub fn free_bytes(path: &str) -> Option<u64> {
    let c = std::ffi::CString::new(path).ok()?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    (unsafe { libc::statvfs(c.as_ptr(), &mut st) } == 0)
        .then(|| st.f_bavail as u64 * st.f_frsize as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &str = "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/vda rw\n\
        310 22 0:52 / /var/lib/docker/overlay2/abc/merged rw,relatime - overlay overlay rw,lowerdir=/l/2:/l/1,upperdir=/u/diff,workdir=/u/work,redirect_dir=on\n\
        311 22 0:53 / /mnt/with\\040space rw - tmpfs tmpfs rw\n\
        312 22 0:54 / /m2 rw - overlay overlay rw,lowerdir=/l,upperdir=/u2,workdir=/w2,index=on,metacopy=on\n";

    #[test]
    fn parses_overlay_layers() {
        let m = parse_mountinfo(INFO);
        assert_eq!(m.len(), 4);
        assert_eq!(m[3].index.as_deref(), Some("on"));
        assert_eq!(m[3].metacopy.as_deref(), Some("on"));
        assert_eq!(m[1].index, None);
        assert_eq!(m[1].fstype, "overlay");
        assert_eq!(m[1].dev, (0, 52));
        assert_eq!(m[1].root, "/");
        assert_eq!(m[1].lower, vec!["/l/2", "/l/1"]);
        assert_eq!(m[1].upper.as_deref(), Some("/u/diff"));
        assert_eq!(m[1].redirect_dir.as_deref(), Some("on"));
        assert_eq!(m[2].mount_point, "/mnt/with space");
    }

    #[test]
    fn finds_the_mount_of_a_path() {
        let m = parse_mountinfo(INFO);
        let o = mount_of(&m, "/var/lib/docker/overlay2/abc/merged/etc/passwd").unwrap();
        assert_eq!(o.fstype, "overlay");
        assert_eq!(
            relative(o, "/var/lib/docker/overlay2/abc/merged/etc/passwd"),
            "etc/passwd"
        );
        assert_eq!(
            mount_of(&m, "/var/lib/docker/overlay2/abc/mergedx")
                .unwrap()
                .fstype,
            "ext4"
        );
        assert_eq!(mount_of(&m, "/etc").unwrap().mount_point, "/");
    }

    #[test]
    fn resolves_relative_paths() {
        let me = std::process::id();
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(resolve(me, AT_FDCWD, "/x").as_deref(), Some("/x"));
        assert_eq!(
            resolve(me, AT_FDCWD, "a/b").unwrap(),
            format!("{}/a/b", cwd.display())
        );
        assert_eq!(normalize("/a/./b/../c//d/"), "/a/c/d");
        assert_eq!(normalize("/.."), "/");
    }
}
