//! Host builds see an empty library; the probes are the `tracer` binary built for the bpf target.
#![no_std]
