//! sigpipe and a real Go program (Debian golang-go, built here): the Go runtime catches
//! SIGPIPE, dies of one from a write to fd 1 or 2 (re-raising it with the default action) and
//! ignores one from any other fd. The SIG_DFL counterpart (a write to a broken socket kills)
//! is sigpipe.rs's `unix_socket_peer_path_is_reported`.

use std::{
    io::{BufRead, BufReader, Write},
    os::{
        fd::{FromRawFd as _, OwnedFd},
        unix::process::ExitStatusExt as _,
    },
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

use serde_json::Value;
use tests::{Tracer, root};

const PROGRAM: &str = r#"package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
)

func main() {
	in := bufio.NewReader(os.Stdin)
	switch os.Args[1] {
	case "stdout": // fd 1 is a pipe nobody reads: the protocol goes over stderr
		fmt.Fprintln(os.Stderr, "ready")
		in.ReadString('\n')
		for i := 0; i < 3; i++ {
			fmt.Println(`level=info msg="log line"`)
		}
		fmt.Fprintln(os.Stderr, "survived")
	case "socket":
		l, err := net.Listen("unix", os.Args[2])
		if err != nil {
			panic(err)
		}
		c, _ := net.Dial("unix", os.Args[2])
		s, _ := l.Accept()
		fmt.Println("ready")
		in.ReadString('\n')
		s.Close()
		l.Close()
		for i := 0; i < 3 && err == nil; i++ {
			_, err = c.Write([]byte("event\n"))
		}
		fmt.Println("survived:", err)
	}
}
"#;

/// Builds the program as `dockerd` (a watched name) in a temporary directory.
fn build(dir: &Path) -> PathBuf {
    tests::apt_install_unless("command -v go", &["golang-go"]);
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("main.go"), PROGRAM).unwrap();
    let bin = dir.join("dockerd");
    let out = Command::new("go")
        .args(["build", "-o"])
        .arg(&bin)
        .arg(dir.join("main.go"))
        .env("GOCACHE", dir.join("cache"))
        .env("GOPATH", dir.join("gopath"))
        .env("GO111MODULE", "off")
        .env("CGO_ENABLED", "0")
        .output()
        .unwrap();
    assert!(out.status.success(), "go build: {out:?}");
    bin
}

fn findings(report: &Value, pid: u32) -> Vec<&Value> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "sigpipe_delivered" && f["subject"]["pid"] == pid)
        .collect()
}

fn tmp(name: &str) -> PathBuf {
    tests::scratch_dir().join(format!("ctrace-sigpipe-go-{}-{name}", std::process::id()))
}

#[test]
fn go_program_dies_of_a_broken_stdout_as_one_event() {
    if !root() {
        return;
    }
    let dir = tmp("stdout");
    let bin = build(&dir);
    let mut p = [0i32; 2];
    assert_eq!(unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    let (read_end, write_end) = unsafe { (OwnedFd::from_raw_fd(p[0]), OwnedFd::from_raw_fd(p[1])) };
    drop(read_end);
    let tracer = Tracer::start(&["trace", "sigpipe", "--json", "--interval", "500ms"]);
    let mut child = Command::new(&bin)
        .arg("stdout")
        .stdin(Stdio::piped())
        .stdout(Stdio::from(write_end))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready");
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let status = child.wait().unwrap();
    assert_eq!(
        status.signal(),
        Some(libc::SIGPIPE),
        "Go dies of SIGPIPE on fd 1"
    );
    std::thread::sleep(Duration::from_millis(500));
    let report = tracer.stop_json();
    let _ = std::fs::remove_dir_all(&dir);
    let f = findings(&report, pid);
    assert_eq!(f.len(), 1, "{report:#}");
    let e = &f[0]["evidence"];
    assert_eq!(f[0]["severity"], "critical");
    assert_eq!(e["died"], true);
    assert_eq!(e["reraised"], true, "{e:#}");
    assert_eq!(
        (e["fd"].as_i64(), e["fd_role"].as_str()),
        (Some(1), Some("log"))
    );
    assert_eq!(e["syscall"], "write");
    assert_eq!(e["exit_code"].as_i64().map(|c| c & 0x7f), Some(13));
    let why = f[0]["explanation"].as_str().unwrap();
    assert!(
        !why.contains("0 bytes") && why.contains("Go runtime"),
        "{why}"
    );
    let merged: Vec<&Value> = report["sigpipe"]["signals"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["pid"] == pid)
        .collect();
    assert_eq!(
        merged.len(),
        1,
        "the write and the runtime's re-raise: {merged:#?}"
    );
    // The kernel's totals count each generation: the write's and the runtime's raises.
    let t = report["sigpipe"]["by_process"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["pid"] == pid)
        .cloned()
        .unwrap();
    eprintln!("go totals: {t}");
    // A fatal default SIGPIPE is never "delivered" (the kernel makes it a group exit at
    // generation): the death comes from the exit code.
    assert_eq!(t["deaths"].as_u64(), Some(1), "{t}");
    assert!(t["generated"].as_u64() >= Some(2), "{t}");
    assert!(t["delivered_handler"].as_u64() >= Some(1), "{t}");
}

#[test]
fn go_program_survives_a_broken_socket_and_it_is_info() {
    if !root() {
        return;
    }
    let dir = tmp("socket");
    let bin = build(&dir);
    let sock = dir.join("s.sock");
    let tracer = Tracer::start(&["trace", "sigpipe", "--json", "--interval", "500ms"]);
    let mut child = Command::new(&bin)
        .arg("socket")
        .arg(&sock)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready");
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    line.clear();
    out.read_line(&mut line).unwrap();
    assert!(line.contains("broken pipe"), "{line}");
    assert_eq!(child.wait().unwrap().code(), Some(0));
    std::thread::sleep(Duration::from_millis(500));
    let report = tracer.stop_json();
    let _ = std::fs::remove_dir_all(&dir);
    let f = findings(&report, pid);
    assert_eq!(f.len(), 1, "{report:#}");
    let e = &f[0]["evidence"];
    assert_eq!(f[0]["severity"], "info");
    assert_eq!(e["died"], false);
    assert_eq!(e["outcome"], "handled");
    assert_eq!(e["fd_role"], "client");
    assert_eq!(e["fd_kind"], "unix");
    assert_eq!(
        e["fd_peer"],
        sock.to_str().unwrap(),
        "the peer, read at the write"
    );
    let fix = f[0]["remediation"].as_str().unwrap();
    assert!(
        !fix.contains("restart it") && !fix.contains("Restart "),
        "{fix}"
    );
}

/// `ctrace doctor` on a Go daemon that catches SIGPIPE: not "default (fatal)".
#[test]
fn doctor_reads_sigcgt_of_a_go_daemon() {
    if !root() {
        return;
    }
    let dir = tmp("doctor");
    let bin = build(&dir);
    let sock = dir.join("d.sock");
    let mut child = Command::new(&bin)
        .arg("socket")
        .arg(&sock)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let (_, text, _) = tests::run_ctrace(&["doctor"]);
    drop(child.stdin.take());
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    let mine = text
        .lines()
        .find(|l| l.contains(&format!("pid {pid}:")))
        .unwrap_or_else(|| panic!("no doctor line for pid {pid}: {text}"));
    assert!(mine.contains("caught by the Go runtime"), "{mine}");
    assert!(!mine.contains("default (fatal)"), "{mine}");
}
