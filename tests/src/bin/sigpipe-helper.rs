//! Test helper for the sigpipe tests: named `dockerd` (PR_SET_NAME), it writes to a pipe or a
//! unix stream socket whose other end is closed.
//!
//! sigpipe-helper pipe [ignore|block] | unix PATH | storm N
//! Prints "ready", then waits for a line on stdin before each step ("close", "write").
//! storm N: N writes to a broken pipe with a SIGPIPE handler installed, at once.

use std::{
    io::{BufRead as _, Write as _},
    os::{
        fd::AsRawFd as _,
        unix::net::{UnixListener, UnixStream},
    },
};

fn say(s: &str) {
    println!("{s}");
    std::io::stdout().flush().unwrap();
}

fn wait_line() {
    let mut l = String::new();
    std::io::stdin().lock().read_line(&mut l).unwrap();
}

fn write_n(fd: i32, n: usize) {
    let msg = b"level=info msg=\"log line\"\n";
    for _ in 0..n {
        unsafe { libc::write(fd, msg.as_ptr().cast(), msg.len()) };
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    unsafe { libc::prctl(libc::PR_SET_NAME, c"dockerd".as_ptr()) };
    match args.first().map(String::as_str) {
        Some("pipe") => {
            let ignore = args.get(1).is_some_and(|a| a == "ignore");
            let block = args.get(1).is_some_and(|a| a == "block");
            if ignore {
                unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
            } else if block {
                // Default action, but blocked: the signal stays pending and the process lives.
                unsafe {
                    libc::signal(libc::SIGPIPE, libc::SIG_DFL);
                    let mut set: libc::sigset_t = std::mem::zeroed();
                    libc::sigemptyset(&mut set);
                    libc::sigaddset(&mut set, libc::SIGPIPE);
                    libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
                }
            } else {
                // Rust ignores SIGPIPE by default; a C daemon (and Go on fds 1 and 2) does not.
                unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
            }
            let mut p = [0i32; 2];
            unsafe { libc::pipe(p.as_mut_ptr()) };
            unsafe { libc::close(p[0]) };
            // Its log: stderr is the broken pipe.
            unsafe { libc::dup2(p[1], 2) };
            say("ready");
            wait_line();
            write_n(2, if ignore || block { 5 } else { 1 });
            say("survived");
        }
        Some("unix") => {
            unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
            let path = &args[1];
            let _ = std::fs::remove_file(path);
            let listener = UnixListener::bind(path).unwrap();
            let client = UnixStream::connect(path).unwrap();
            let (server, _) = listener.accept().unwrap();
            say("ready");
            wait_line();
            drop(server);
            drop(listener);
            let _ = std::fs::remove_file(path);
            wait_line();
            write_n(client.as_raw_fd(), 2);
            say("survived");
        }
        Some("storm") => {
            // No stdin protocol: run behind a tests::Gated shell that execs it.
            extern "C" fn on_sigpipe(_: libc::c_int) {}
            let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
            unsafe { libc::signal(libc::SIGPIPE, on_sigpipe as *const () as libc::sighandler_t) };
            let mut p = [0i32; 2];
            unsafe { libc::pipe(p.as_mut_ptr()) };
            unsafe { libc::close(p[0]) };
            write_n(p[1], n);
        }
        _ => {
            eprintln!("usage: sigpipe-helper pipe [ignore|block] | unix PATH | storm N");
            std::process::exit(2);
        }
    }
}
