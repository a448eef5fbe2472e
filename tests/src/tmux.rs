//! A real pseudo-terminal for the live view's tests: a tmux pane of 80 by 30.

use std::{
    process::Command,
    time::{Duration, Instant},
};

use crate::{scratch_dir, skip_or_fail};

/// tmux, with its server's socket under the scratch folder: /tmp may be read-only (the VM).
fn tmux() -> Command {
    let dir = scratch_dir().join("tmux");
    let _ = std::fs::create_dir_all(&dir);
    let mut c = Command::new("tmux");
    c.env("TMUX_TMPDIR", dir);
    c
}

/// A detached tmux session of 80 columns by 30 lines running `cmd` under sh; killed on drop.
pub struct Pane {
    name: String,
}

impl Pane {
    /// None (after saying so, or failing under CI) where tmux is missing.
    pub fn start(tag: &str, cmd: &str) -> Option<Pane> {
        if tmux().arg("-V").output().is_err() {
            skip_or_fail("tmux is not installed");
            return None;
        }
        let name = format!("ctrace-live-{tag}-{}", std::process::id());
        let ok = tmux()
            .args(["new-session", "-d", "-x", "80", "-y", "30", "-s", &name])
            .args(["sh", "-c", cmd])
            .status()
            .expect("run tmux")
            .success();
        assert!(ok, "tmux new-session failed");
        Some(Pane { name })
    }

    /// The screen, wrapped lines joined: a line wider than the pane shows as such.
    pub fn capture(&self) -> Vec<String> {
        let out = tmux()
            .args(["capture-pane", "-p", "-J", "-t", &self.name])
            .output()
            .expect("tmux capture-pane");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(String::from)
            .collect()
    }

    pub fn alternate_screen(&self) -> bool {
        let out = tmux()
            .args(["display-message", "-p", "-t", &self.name, "#{alternate_on}"])
            .output()
            .expect("tmux display-message");
        String::from_utf8_lossy(&out.stdout).trim() == "1"
    }

    pub fn keys(&self, keys: &str) {
        tmux()
            .args(["send-keys", "-t", &self.name, keys])
            .status()
            .expect("tmux send-keys");
    }

    /// Polls the screen until `pred` holds; the last screen either way.
    pub fn wait(&self, timeout: Duration, pred: impl Fn(&[String]) -> bool) -> (bool, Vec<String>) {
        let deadline = Instant::now() + timeout;
        loop {
            let screen = self.capture();
            if pred(&screen) {
                return (true, screen);
            }
            if Instant::now() > deadline {
                return (false, screen);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Pane {
    fn drop(&mut self) {
        let _ = tmux().args(["kill-session", "-t", &self.name]).status();
    }
}
