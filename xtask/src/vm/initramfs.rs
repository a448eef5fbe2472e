//! The VM's initramfs: static busybox, the kernel's 9p and overlay modules and an init that
//! mounts the host's root read-only over 9p and chroots into it, so that the dynamically linked
//! ctrace and test binaries run unchanged. Written as an uncompressed newc cpio archive.

use std::{fs, path::Path};

use anyhow::{Context as _, Result};

use super::kernels::Kernel;

/// Mount tags of the two 9p shares: the host's root (read-only) and the results folder.
pub const HOST_TAG: &str = "hostroot";
pub const OUT_TAG: &str = "vmout";

/// Runs as PID 1. `ctrace_out` (from the kernel command line) is the results folder, the same
/// path inside the chroot as on the host; its `script.sh` is what the VM runs.
const INIT: &str = r#"#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
ifconfig lo 127.0.0.1 up
for m in $(cat /mod/order); do insmod /mod/$m || echo "vm: insmod $m failed"; done
r=/mnt
o=9p2000.L,trans=virtio,msize=512000
if ! mount -t 9p -o ro,cache=loose,version=$o @HOST@ $r; then
  echo "vm: cannot mount the host root"; poweroff -f
fi
mount -t 9p -o version=$o @OUT@ $r$ctrace_out
mount -t proc proc $r/proc
mount -t sysfs sys $r/sys
mount -t devtmpfs dev $r/dev
mkdir -p $r/dev/pts $r/dev/shm
mount -t devpts devpts $r/dev/pts
mount -t tmpfs shm $r/dev/shm
mount -t tmpfs run $r/run
mount -t tracefs tracefs $r/sys/kernel/tracing
mount -t debugfs debugfs $r/sys/kernel/debug
mount -t bpf bpf $r/sys/fs/bpf
mount -t cgroup2 cgroup2 $r/sys/fs/cgroup
echo "vm: running $ctrace_out/script.sh on $(uname -r)"
chroot $r /bin/sh $ctrace_out/script.sh
echo "vm: script exited $?"
sync
poweroff -f
"#;

struct Cpio {
    buf: Vec<u8>,
    ino: u32,
}

impl Cpio {
    fn entry(&mut self, name: &str, mode: u32, data: &[u8], rdev: (u32, u32)) {
        self.ino += 1;
        let fields = [
            self.ino,
            mode,
            0,
            0,
            1,
            0,
            data.len() as u32,
            0,
            0,
            rdev.0,
            rdev.1,
            name.len() as u32 + 1,
            0,
        ];
        self.buf.extend_from_slice(b"070701");
        for f in fields {
            self.buf.extend_from_slice(format!("{f:08x}").as_bytes());
        }
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.push(0);
        self.pad();
        self.buf.extend_from_slice(data);
        self.pad();
    }
    fn pad(&mut self) {
        while !self.buf.len().is_multiple_of(4) {
            self.buf.push(0);
        }
    }
}

/// Writes the initramfs of `kernel` to `dest`.
pub fn build(kernel: &Kernel, dest: &Path) -> Result<()> {
    let busybox = fs::read("/bin/busybox").context("reading /bin/busybox (busybox-static)")?;
    let mut c = Cpio {
        buf: Vec::new(),
        ino: 0,
    };
    for d in ["bin", "dev", "proc", "sys", "mnt", "mod"] {
        c.entry(d, 0o040755, &[], (0, 0));
    }
    // The kernel opens /dev/console before devtmpfs is mounted.
    c.entry("dev/console", 0o020600, &[], (5, 1));
    c.entry("bin/busybox", 0o100755, &busybox, (0, 0));
    let init = INIT.replace("@HOST@", HOST_TAG).replace("@OUT@", OUT_TAG);
    c.entry("init", 0o100755, init.as_bytes(), (0, 0));
    let mods = kernel.modules()?;
    for m in &mods {
        let data = fs::read(kernel.dir.join("modules").join(m))?;
        c.entry(&format!("mod/{m}"), 0o100644, &data, (0, 0));
    }
    c.entry(
        "mod/order",
        0o100644,
        (mods.join("\n") + "\n").as_bytes(),
        (0, 0),
    );
    c.entry("TRAILER!!!", 0, &[], (0, 0));
    fs::write(dest, &c.buf)?;
    Ok(())
}
