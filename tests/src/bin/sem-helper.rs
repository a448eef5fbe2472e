//! Test helper for the sem tests: creates, uses, removes and leaks SysV semaphore sets with real
//! syscalls, and fills a fresh IPC namespace up to its SEMMNI.
//!
//! sem-helper create N KEY | create-rm N KEY | use N KEY | fill-ns SEMMNI EXTRA

use std::io::Write as _;

fn key_arg(s: &str) -> i32 {
    let s = s.trim_start_matches("0x");
    u32::from_str_radix(s, 16).expect("hex key") as i32
}

fn create(key: i32) -> Result<i32, i32> {
    let id = unsafe { libc::semget(key, 1, libc::IPC_CREAT | 0o600) };
    if id < 0 {
        return Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0));
    }
    bump(id);
    Ok(id)
}

/// A semop, so the set has a last user (as a udev cookie has).
fn bump(id: i32) {
    let mut op = libc::sembuf {
        sem_num: 0,
        sem_op: 1,
        sem_flg: libc::IPC_NOWAIT as i16,
    };
    unsafe { libc::semop(id, &mut op, 1) };
}

fn say(line: &str) {
    println!("{line}");
    std::io::stdout().flush().unwrap();
}

fn forever() -> ! {
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n = || args[1].parse::<i32>().expect("count");
    match args.first().map(String::as_str) {
        Some("create") => {
            for i in 0..n() {
                create(key_arg(&args[2]) + i).expect("semget");
            }
            say("ready");
            forever();
        }
        Some("create-rm") => {
            for i in 0..n() {
                let id = create(key_arg(&args[2]) + i).expect("semget");
                unsafe { libc::semctl(id, 0, libc::IPC_RMID) };
            }
            say("done");
        }
        Some("use") => {
            let ids: Vec<i32> = (0..n())
                .map(|i| create(key_arg(&args[2]) + i).expect("semget"))
                .collect();
            say("ready");
            loop {
                std::thread::sleep(std::time::Duration::from_millis(200));
                ids.iter().for_each(|&id| bump(id));
            }
        }
        Some("fill-ns") => {
            let semmni: u32 = args[1].parse().unwrap();
            let extra: u32 = args[2].parse().unwrap();
            assert_eq!(
                unsafe { libc::unshare(libc::CLONE_NEWIPC) },
                0,
                "unshare(CLONE_NEWIPC)"
            );
            std::fs::write("/proc/sys/kernel/sem", format!("250 32000 32 {semmni}"))
                .expect("lower SEMMNI");
            let (mut created, mut enospc) = (0, 0);
            for i in 0..semmni + extra {
                match create(0x0d4d_5000 + i as i32) {
                    Ok(_) => created += 1,
                    Err(e) if e == libc::ENOSPC => enospc += 1,
                    Err(e) => panic!("semget: errno {e}"),
                }
            }
            say(&format!("ready {created} {enospc}"));
            forever();
        }
        _ => {
            eprintln!("usage: sem-helper create|create-rm|use N KEY | fill-ns SEMMNI EXTRA");
            std::process::exit(2);
        }
    }
}
