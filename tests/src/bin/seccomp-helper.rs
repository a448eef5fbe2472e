//! A process under a seccomp filter that reads a syscall argument (so the kernel's action cache
//! cannot skip it) and runs 200 comparisons before allowing: bursts of getppid until killed.
//! `seccomp-helper exec MS CMD ARGS...` lives MS ms unfiltered, then installs the filter and
//! execs CMD, as runc does before a container's command; `exec-spin` spends those MS ms on the
//! CPU, for a sampler to see.

use std::os::unix::process::CommandExt;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map(String::as_str);
    let exec = matches!(mode, Some("exec" | "exec-spin")).then(|| {
        let ms: u64 = args[2].parse().expect("exec MS CMD...");
        let wait = std::time::Duration::from_millis(ms);
        if mode == Some("exec-spin") {
            let t = std::time::Instant::now();
            while t.elapsed() < wait {
                std::hint::spin_loop();
            }
        } else {
            std::thread::sleep(wait);
        }
        let mut cmd = std::process::Command::new(&args[3]);
        cmd.args(&args[4..]);
        cmd
    });
    tests::filters::install(&tests::filters::with_args(200));
    if let Some(mut cmd) = exec {
        panic!("exec {:?}: {}", args[3], cmd.exec());
    }
    println!("filtered");
    loop {
        for _ in 0..5000 {
            unsafe { libc::syscall(libc::SYS_getppid) };
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}
