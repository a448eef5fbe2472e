use which::which;

/// Rebuild the probes when bpf-linker changes: it is not a cargo dependency, so cargo can't see it.
fn main() {
    match which("bpf-linker") {
        Ok(path) => println!("cargo:rerun-if-changed={}", path.display()),
        Err(err) => println!("cargo:warning=bpf-linker not found ({err}); run `cargo xtask setup`"),
    }
}
