//! A real overlay mount for tests: a lower, an upper and a work directory under the scratch
//! dir (the upper optionally on a small tmpfs, and volumes bind-mounted into it), unmounted and
//! removed on drop.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

pub struct Mount {
    /// Canonical (the kernel's mount table holds canonical paths); holds lower/upper/work/merged.
    pub dir: PathBuf,
    /// Where the upper and work directories are (`dir`, or a size-limited tmpfs in it).
    pub upper_fs: PathBuf,
    /// Extra mounts made inside the merged view, unmounted first.
    pub binds: Vec<PathBuf>,
}

impl Mount {
    /// Mounts `<scratch>/ctrace-overlay-<name>` once `populate` has filled its lower directory;
    /// `extra_opts` is appended to the mount options (e.g. ",redirect_dir=off").
    pub fn new(name: &str, extra_opts: &str, populate: impl FnOnce(&Path)) -> Mount {
        Mount::with_upper(name, extra_opts, None, populate)
    }

    /// As `new`, with the upper and work directories on a tmpfs of `upper_size` (e.g. "1m"):
    /// an upper filesystem that a copy-up can fill.
    pub fn with_upper(
        name: &str,
        extra_opts: &str,
        upper_size: Option<&str>,
        populate: impl FnOnce(&Path),
    ) -> Mount {
        let dir = crate::scratch_dir().join(format!("ctrace-overlay-{name}"));
        for m in ["merged", "upperfs"] {
            let _ = Command::new("umount")
                .arg(dir.join(m))
                .stderr(Stdio::null())
                .status();
        }
        let _ = std::fs::remove_dir_all(&dir);
        for d in ["lower", "merged", "upperfs"] {
            std::fs::create_dir_all(dir.join(d)).unwrap();
        }
        let dir = dir.canonicalize().unwrap();
        let upper_fs = match upper_size {
            Some(size) => {
                let fs = dir.join("upperfs");
                let st = Command::new("mount")
                    .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
                    .arg(&fs)
                    .status()
                    .unwrap();
                assert!(st.success(), "mount tmpfs");
                fs
            }
            None => dir.clone(),
        };
        for d in ["upper", "work"] {
            std::fs::create_dir_all(upper_fs.join(d)).unwrap();
        }
        populate(&dir.join("lower"));
        let d = |s: &str| dir.join(s).display().to_string();
        let u = |s: &str| upper_fs.join(s).display().to_string();
        let opts = format!(
            "lowerdir={},upperdir={},workdir={}{extra_opts}",
            d("lower"),
            u("upper"),
            u("work")
        );
        let st = Command::new("mount")
            .args(["-t", "overlay", "overlay", "-o", &opts, &d("merged")])
            .status()
            .unwrap();
        assert!(st.success(), "mount overlay");
        Mount {
            dir,
            upper_fs,
            binds: Vec::new(),
        }
    }

    /// The upper directory, where copies land.
    pub fn upper(&self, p: &str) -> PathBuf {
        self.upper_fs.join("upper").join(p)
    }

    /// Bind-mounts a fresh directory (a "volume") over `p` in the merged view.
    pub fn bind_volume(&mut self, p: &str) {
        let vol = self.dir.join("volume");
        std::fs::create_dir_all(&vol).unwrap();
        let at = self.dir.join("merged").join(p);
        std::fs::create_dir_all(&at).unwrap();
        let st = Command::new("mount")
            .arg("--bind")
            .arg(&vol)
            .arg(&at)
            .status()
            .unwrap();
        assert!(st.success(), "bind mount");
        self.binds.push(at);
    }

    /// A path in the merged view, as processes see it.
    pub fn merged(&self, p: &str) -> String {
        self.dir.join("merged").join(p).display().to_string()
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        for b in self.binds.iter().rev() {
            let _ = Command::new("umount").arg(b).status();
        }
        let _ = Command::new("umount").arg(self.dir.join("merged")).status();
        if self.upper_fs != self.dir {
            let _ = Command::new("umount").arg(&self.upper_fs).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
