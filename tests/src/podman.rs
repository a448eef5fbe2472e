//! podman for tests: the Debian package (installed when missing), its busybox image imported
//! from a rootfs tarball, and rlimits that fit this sandbox's hard limits.

use std::{path::PathBuf, process::Command};

use crate::docker::sh;

pub const IMAGE: &str = "localhost/ctrace-busybox:test";
/// podman's defaults ask for more than some sandboxes' hard limits allow.
const ULIMITS: [&str; 4] = [
    "--ulimit",
    "nofile=10000:10000",
    "--ulimit",
    "nproc=4096:4096",
];

pub struct Podman {
    names: Vec<String>,
    /// podman's store and run directories are fixed paths (/var/lib/containers, /run/libpod).
    _lock: crate::NodeLock,
}

pub fn install_if_missing() {
    crate::apt_install_unless(
        "command -v podman && test -x /bin/busybox",
        &["podman", "runc", "busybox-static"],
    );
}

impl Podman {
    pub fn start() -> Podman {
        let lock = crate::node_lock("podman");
        install_if_missing();
        if !sh(&format!("podman image exists {IMAGE}")) {
            let root =
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/ctrace-podman/rootfs");
            crate::rootfs::busybox(&root);
            let cmd = format!("tar -C {} -c . | podman import - {IMAGE}", root.display());
            assert!(
                sh(&cmd),
                "importing the busybox image into podman failed: {cmd}"
            );
        }
        Podman {
            names: Vec::new(),
            _lock: lock,
        }
    }

    /// `podman run -d --name NAME` and the full container id.
    pub fn run(&mut self, name: &str, cmd: &[&str]) -> String {
        self.rm(name);
        let out = crate::docker::output_ok(
            Command::new("podman")
                .args(["run", "-d", "--network", "none", "--name", name])
                .args(ULIMITS)
                .arg(IMAGE)
                .args(cmd),
            &format!("podman run {name}"),
        );
        self.names.push(name.to_string());
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    pub fn rm(&mut self, name: &str) {
        let _ = sh(&format!("podman rm -f -t 0 {name}"));
        self.names.retain(|n| n != name);
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        for n in self.names.clone() {
            self.rm(&n);
        }
    }
}
