//! Writing the report and messages without panicking (Rust's print macros panic on a failed
//! write). A reader that went away (`ctrace doctor | head -1`) ends ctrace quietly with exit 0;
//! any other write error (a full disk) is one line and exit 1. Messages on stderr are best
//! effort: if stderr itself is gone there is nobody left to tell. `Usage` marks input errors
//! found after parsing, which end with exit 2 like clap's own.

use std::{
    fmt,
    io::{self, Write as _},
};

/// The reader of standard output went away (EPIPE): not a failure of ctrace.
#[derive(Debug)]
pub struct Closed;

impl fmt::Display for Closed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("standard output was closed")
    }
}

impl std::error::Error for Closed {}

/// Input that is wrong as typed (exit 2, like clap's own errors), found after
/// parsing: a limit across repeated flags, an id prefix too short to look up.
#[derive(Debug)]
pub struct Usage(pub String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

/// Writes `text` to standard output and flushes it.
pub fn stdout(text: &str) -> anyhow::Result<()> {
    let mut o = io::stdout().lock();
    match o.write_all(text.as_bytes()).and_then(|()| o.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Err(Closed.into()),
        Err(e) => Err(anyhow::anyhow!("cannot write to standard output: {e}")),
    }
}

/// Writes one line to standard error, ignoring failure.
pub fn stderr(args: fmt::Arguments<'_>) {
    let _ = writeln!(io::stderr().lock(), "{args}");
}

/// `println!` that returns an error instead of panicking: `outln!(...)?`.
#[macro_export]
macro_rules! outln {
    ($($t:tt)*) => {
        $crate::out::stdout(&format!("{}\n", format_args!($($t)*)))
    };
}

/// `eprintln!` that never panics.
#[macro_export]
macro_rules! say {
    ($($t:tt)*) => {
        $crate::out::stderr(format_args!($($t)*))
    };
}
