//! `ctrace bench overhead`: what tracing costs, measured side by side in one run.

mod agent;
mod agents;
mod cases;
mod children;
mod overhead;
mod overhead_table;
mod prog_stats;
mod sampled;
mod stats;
mod storm;

pub use agent::run as agent;
pub use overhead::{overhead, syscall_loop};
