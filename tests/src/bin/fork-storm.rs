//! Test helper: forks N children that exit at once, reaping each; prints how many it reaped.
//!
//! fork-storm N

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .expect("usage: fork-storm N");
    let mut reaped = 0;
    for _ in 0..n {
        match unsafe { libc::fork() } {
            0 => unsafe { libc::_exit(0) },
            pid if pid > 0 => {
                if unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) } == pid {
                    reaped += 1;
                }
            }
            _ => panic!("fork: {}", std::io::Error::last_os_error()),
        }
    }
    println!("reaped {reaped}");
}
