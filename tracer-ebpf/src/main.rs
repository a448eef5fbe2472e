//! ctrace's kernel side: one module per problem, plus the shared filter and the feature probes.
#![no_std]
#![no_main]
// `asm!` on BPF: the one register barrier in overlay_walk.rs.
#![cfg_attr(target_arch = "bpf", feature(asm_experimental_arch))]

mod cgroup;
mod dispatch;
mod filter;
mod origin;
mod overlay;
mod overlay_walk;
mod probes;
mod seccomp;
mod seccomp_filter;
mod seccomp_sample;
mod sem;
mod sigpipe;
mod syscall;
mod zombie;
mod zombie_signal;

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
