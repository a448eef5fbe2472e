//! A real Docker engine for tests: installed when missing, started with its own data root,
//! an offline busybox image imported, and stopped again when the last user is done.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

pub const IMAGE: &str = "ctrace-busybox:test";

pub struct Docker {
    dockerd: Option<Child>,
    /// One test at a time uses the engine (container names are fixed, and the test that
    /// started dockerd stops it), in this run and in any other checkout's on this node.
    _lock: crate::NodeLock,
}

pub(crate) fn sh(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", cmd])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs an engine's command and returns its output; it must succeed.
pub(crate) fn output_ok(cmd: &mut Command, what: &str) -> std::process::Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn answers() -> bool {
    sh("docker version --format '{{.Server.Version}}'")
}

fn work_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/ctrace-docker")
}

pub fn install_if_missing() {
    crate::apt_install_unless(
        "command -v dockerd && command -v docker && test -x /bin/busybox",
        &["docker.io", "busybox-static"],
    );
}

/// A rootfs with a static busybox and its applet links, imported without any registry.
fn import_image() {
    if sh(&format!("docker image inspect {IMAGE}")) {
        return;
    }
    let root = work_dir().join("rootfs");
    crate::rootfs::busybox(&root);
    let cmd = format!("tar -C {} -c . | docker import - {IMAGE}", root.display());
    assert!(sh(&cmd), "importing the busybox image failed: {cmd}");
}

impl Docker {
    /// Starts dockerd unless one already answers; waits until it does.
    pub fn start() -> Docker {
        let lock = crate::node_lock("docker");
        install_if_missing();
        let mut dockerd = None;
        if !answers() {
            let dir = work_dir();
            std::fs::create_dir_all(&dir).unwrap();
            let log = std::fs::File::create(dir.join("dockerd.log")).unwrap();
            let child = Command::new("dockerd")
                .args(["--iptables=false", "--bridge=none", "--data-root"])
                .arg(dir.join("data"))
                .args([
                    "--exec-root",
                    "/run/ctrace-docker",
                    "--pidfile",
                    "/run/ctrace-docker.pid",
                ])
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("spawn dockerd");
            dockerd = Some(child);
            let deadline = Instant::now() + Duration::from_secs(90);
            while !answers() {
                assert!(
                    Instant::now() < deadline,
                    "dockerd did not answer within 90 s; see {}",
                    dir.join("dockerd.log").display()
                );
                std::thread::sleep(Duration::from_millis(300));
            }
        }
        import_image();
        Docker {
            dockerd,
            _lock: lock,
        }
    }

    /// `docker run -d` and the full container id.
    pub fn run(&self, name: &str, extra: &[&str], cmd: &[&str]) -> String {
        let _ = sh(&format!("docker rm -f {name}"));
        let mut args = vec!["-d"];
        args.extend_from_slice(extra);
        let out = docker_run(name, &args, cmd);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// `docker run` in the foreground: returns once the container's command has exited.
    pub fn run_attached(&self, name: &str, extra: &[&str], cmd: &[&str]) {
        docker_run(name, extra, cmd);
    }

    /// The full id of container `name`.
    pub fn id(&self, name: &str) -> String {
        inspect(name, "{{.Id}}")
    }

    /// The container's (or image's) overlay upper directory: the oracle of what it copied up.
    pub fn upper_dir(&self, name: &str) -> String {
        inspect(name, "{{.GraphDriver.Data.UpperDir}}")
    }

    pub fn rm(&self, name: &str) {
        let _ = sh(&format!("docker rm -f {name}"));
    }
}

impl Drop for Docker {
    fn drop(&mut self) {
        if let Some(mut d) = self.dockerd.take() {
            unsafe { libc::kill(d.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline && !matches!(d.try_wait(), Ok(Some(_))) {
                std::thread::sleep(Duration::from_millis(200));
            }
            let _ = d.kill();
            let _ = d.wait();
            // dockerd bind-mounts its data root onto itself and leaves the mount behind.
            let _ = sh(&format!("umount {}", work_dir().join("data").display()));
        }
    }
}

/// `docker run` of the test image without a network; the run must succeed.
fn docker_run(name: &str, extra: &[&str], cmd: &[&str]) -> std::process::Output {
    output_ok(
        Command::new("docker")
            .args(["run", "--network", "none", "--name", name])
            .args(extra)
            .arg(IMAGE)
            .args(cmd),
        &format!("docker run {name}"),
    )
}

/// `docker inspect -f FORMAT name`, trimmed.
fn inspect(name: &str, format: &str) -> String {
    let out = Command::new("docker")
        .args(["inspect", "-f", format, name])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
