//! A real overlay mount for tests: a lower, an upper and a work directory under the scratch
//! dir, unmounted and removed on drop.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

pub struct Mount {
    /// Canonical (the kernel's mount table holds canonical paths); holds lower/upper/work/merged.
    pub dir: PathBuf,
}

impl Mount {
    /// Mounts `<scratch>/ctrace-overlay-<name>` once `populate` has filled its lower directory;
    /// `extra_opts` is appended to the mount options (e.g. ",redirect_dir=off").
    pub fn new(name: &str, extra_opts: &str, populate: impl FnOnce(&Path)) -> Mount {
        let dir = crate::scratch_dir().join(format!("ctrace-overlay-{name}"));
        let _ = Command::new("umount")
            .arg(dir.join("merged"))
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&dir);
        for d in ["lower", "upper", "work", "merged"] {
            std::fs::create_dir_all(dir.join(d)).unwrap();
        }
        let dir = dir.canonicalize().unwrap();
        populate(&dir.join("lower"));
        let d = |s: &str| dir.join(s).display().to_string();
        let opts = format!(
            "lowerdir={},upperdir={},workdir={}{extra_opts}",
            d("lower"),
            d("upper"),
            d("work")
        );
        let st = Command::new("mount")
            .args(["-t", "overlay", "overlay", "-o", &opts, &d("merged")])
            .status()
            .unwrap();
        assert!(st.success(), "mount overlay");
        Mount { dir }
    }

    /// A path in the merged view, as processes see it.
    pub fn merged(&self, p: &str) -> String {
        self.dir.join("merged").join(p).display().to_string()
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.join("merged")).status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
