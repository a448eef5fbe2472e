//! A second containerd for tests, beside Docker's: its own socket, root and state, started
//! like dockerd is (installed when missing, stopped when the test is done). Containers run from
//! a busybox rootfs directory (`ctr run --rootfs`), so no image store or registry is needed.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// Fixed paths under /run, so one test on the node at a time (`node_lock("containerd")`).
pub const DIR: &str = "/run/ctrace-containerd";
pub const SOCKET: &str = "/run/ctrace-containerd/containerd.sock";
pub const STATE: &str = "/run/ctrace-containerd/state";
/// The namespace the kubelet's containerd uses.
pub const NAMESPACE: &str = "k8s.io";

pub struct Containerd {
    daemon: Option<Child>,
    ids: Vec<String>,
    _lock: crate::NodeLock,
}

fn work_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/ctrace-containerd")
}

fn ctr() -> Command {
    let mut c = Command::new("ctr");
    c.args(["--address", SOCKET, "--namespace", NAMESPACE]);
    c
}

fn answers() -> bool {
    ctr()
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

pub fn install_if_missing() {
    crate::apt_install_unless(
        "command -v containerd && command -v ctr && command -v runc && test -x /bin/busybox",
        &["containerd", "runc", "busybox-static"],
    );
}

impl Containerd {
    /// Starts the test's containerd unless one already answers on its socket.
    pub fn start() -> Containerd {
        let lock = crate::node_lock("containerd");
        install_if_missing();
        let dir = work_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let mut daemon = None;
        if !answers() {
            std::fs::create_dir_all(DIR).unwrap();
            // Only what `ctr run` needs: no CRI plugin (it would want CNI and a kubelet).
            let config = dir.join("config.toml");
            std::fs::write(
                &config,
                "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\"]\n  disable = true\n",
            )
            .unwrap();
            let log = std::fs::File::create(dir.join("containerd.log")).unwrap();
            let child = Command::new("containerd")
                .args(["--address", SOCKET, "--state", STATE, "--root"])
                .arg(dir.join("root"))
                .arg("--config")
                .arg(&config)
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("spawn containerd");
            daemon = Some(child);
            let deadline = Instant::now() + Duration::from_secs(60);
            while !answers() {
                assert!(
                    Instant::now() < deadline,
                    "containerd did not answer within 60 s; see {}",
                    dir.join("containerd.log").display()
                );
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        crate::rootfs::busybox(&dir.join("rootfs"));
        Containerd {
            daemon,
            ids: Vec::new(),
            _lock: lock,
        }
    }

    /// `ctr run -d --rootfs` with OCI annotations; `id` names the container and its cgroup.
    pub fn run(&mut self, id: &str, annotations: &[(&str, &str)], cmd: &[&str]) {
        self.remove(id);
        let mut c = ctr();
        // A bare rootfs has no image config to set PATH.
        c.args(["run", "-d", "--env", "PATH=/bin"]);
        for (k, v) in annotations {
            c.arg("--annotation").arg(format!("{k}={v}"));
        }
        c.arg("--rootfs")
            .arg(work_dir().join("rootfs"))
            .arg(id)
            .args(cmd);
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "ctr run {id}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.ids.push(id.to_string());
    }

    /// The host pid of the task's PID 1.
    pub fn pid(&self, id: &str) -> u32 {
        let out = ctr().args(["task", "ls"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| {
                let mut f = l.split_whitespace();
                (f.next() == Some(id)).then(|| f.next()?.parse().ok())?
            })
            .unwrap_or_else(|| panic!("task {id} not listed"))
    }

    pub fn remove(&mut self, id: &str) {
        let quiet = |args: &[&str]| {
            let _ = ctr()
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        };
        quiet(&["task", "kill", "--signal", "SIGKILL", id]);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline
            && ctr()
                .args(["task", "delete", id])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| !s.success())
            && ctr()
                .args(["task", "ls", "-q"])
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).lines().any(|l| l == id))
        {
            std::thread::sleep(Duration::from_millis(100));
        }
        quiet(&["container", "delete", id]);
        self.ids.retain(|i| i != id);
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        for id in self.ids.clone() {
            self.remove(&id);
        }
        if let Some(mut d) = self.daemon.take() {
            unsafe { libc::kill(d.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline && !matches!(d.try_wait(), Ok(Some(_))) {
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = d.kill();
            let _ = d.wait();
        }
    }
}
