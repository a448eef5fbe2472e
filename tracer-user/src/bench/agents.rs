//! A whole ctrace in its own process, as users run it (`trace` with every problem, `serve`),
//! for the cases that measure more than one problem's probes.

use std::{
    io::{BufRead as _, BufReader, Read as _},
    process::{Child, ChildStdout, Command, Stdio},
    sync::mpsc,
    time::Duration,
};

use anyhow::{Context as _, Result, bail};

pub struct Agent {
    child: Child,
    stdout: Option<ChildStdout>,
}

impl Agent {
    /// Spawns `ctrace ARGS` and returns once it says it is attached.
    pub fn start(args: &[&str]) -> Result<Agent> {
        let mut child =
            super::children::die_with_parent(&mut Command::new(std::env::current_exe()?))
                .args(args)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .context("spawning ctrace")?;
        let err = child.stderr.take().expect("piped");
        let (tx, rx) = mpsc::channel();
        // Keeps draining stderr (the live lines) for as long as the agent runs.
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut seen = Vec::new();
        loop {
            match rx.recv_timeout(Duration::from_secs(60)) {
                Ok(l) if l.contains("attached") => break,
                Ok(l) => seen.push(l),
                Err(_) => {
                    let _ = child.kill();
                    bail!("ctrace {args:?} did not attach: {}", seen.join(" / "));
                }
            }
        }
        let stdout = child.stdout.take();
        Ok(Agent { child, stdout })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, wait, and what it printed on stdout.
    pub fn stop(mut self) -> Result<String> {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let mut out = String::new();
        if let Some(mut s) = self.stdout.take() {
            s.read_to_string(&mut out)?;
        }
        let st = self.child.wait()?;
        if !st.success() {
            bail!("ctrace exited with {st}");
        }
        Ok(out)
    }
}
