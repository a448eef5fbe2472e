//! Log lines (warnings, or the -v levels) held back while the full-screen view owns the
//! terminal, where they would scribble over it, and written out once it is left.

use std::{
    io::{self, Write},
    sync::{
        Mutex,
        atomic::{AtomicBool, Ordering},
    },
};

/// At most this much is held; what comes later is dropped, with a note at the end.
const CAP: usize = 64 * 1024;

static HOLD: AtomicBool = AtomicBool::new(false);
static HELD: Mutex<(Vec<u8>, bool)> = Mutex::new((Vec::new(), false));

/// The logger's writer: stderr, or the buffer while the view is up.
pub struct Sink;

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if HOLD.load(Ordering::SeqCst)
            && let Ok(mut h) = HELD.lock()
        {
            if h.0.len() + buf.len() <= CAP {
                h.0.extend_from_slice(buf);
            } else {
                h.1 = true;
            }
            return Ok(buf.len());
        }
        io::stderr().write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

pub fn hold() {
    HOLD.store(true, Ordering::SeqCst);
}

/// Stops holding and writes out what was held; errors ignored, as for every message.
pub fn release() {
    HOLD.store(false, Ordering::SeqCst);
    if let Ok(mut h) = HELD.lock() {
        let mut e = io::stderr().lock();
        let _ = e.write_all(&h.0);
        if h.1 {
            let _ = writeln!(
                e,
                "ctrace: later log lines dropped while the live view was up"
            );
        }
        h.0.clear();
        h.1 = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_while_the_view_is_up_then_written_out() {
        hold();
        let mut s = Sink;
        s.write_all(b"ctrace-test: held line\n").unwrap();
        assert!(
            HELD.lock()
                .unwrap()
                .0
                .ends_with(b"ctrace-test: held line\n")
        );
        release();
        assert!(HELD.lock().unwrap().0.is_empty());
        assert!(!HOLD.load(Ordering::SeqCst));
    }
}
