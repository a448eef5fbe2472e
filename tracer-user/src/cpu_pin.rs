//! Where a benchmark runs: the measured loop alone on the last CPU, ctrace's own user space on
//! the first, so that runs compare like with like.

/// The measured loop's CPU, the same one every run.
pub fn pin_to_last_cpu() {
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.max(1) as usize;
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(n - 1, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// ctrace's own user space on the first CPU; the loop pins itself to the last one.
pub fn pin_self_to_first_cpu() {
    set_affinity(1);
}

/// Every online CPU again (the exit storm forks on all of them).
pub fn unpin_self() {
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.max(1) as usize;
    set_affinity(n);
}

fn set_affinity(cpus: usize) {
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for c in 0..cpus {
            libc::CPU_SET(c, &mut set);
        }
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}
