//! The terminal under the full-screen view: raw mode and the alternate screen, entered by a
//! guard and left on every way out (the guard's drop, a panic's unwinding, and the second
//! Ctrl-C's immediate exit through `restore`), and the keys: q stops cleanly, s switches the
//! sort, Ctrl-C behaves as the signal does outside raw mode.

use std::{
    io::{self, Write as _},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
        mpsc::{Receiver, TryRecvError},
    },
    time::Duration,
};

use ratatui::{
    Terminal,
    backend::CrosstermBackend,
    crossterm::{
        cursor,
        event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers},
        execute,
        terminal::{self, EnterAlternateScreen, LeaveAlternateScreen},
    },
};

use super::{
    held_log,
    model::Model,
    screen::{self, Sort, State},
};

/// Whether ctrace's terminal is in raw mode on the alternate screen now.
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Leaves raw mode and the alternate screen if the view has them; safe from any thread and
/// more than once (the signal thread calls it before exiting at once).
pub fn restore() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        let _ = terminal::disable_raw_mode();
        let mut e = io::stderr();
        let _ = execute!(e, LeaveAlternateScreen, cursor::Show);
        let _ = e.flush();
        held_log::release();
    }
}

struct Guard;

impl Guard {
    fn enter() -> io::Result<Guard> {
        // A second Ctrl-C exits at once, from the signal thread: the terminal goes back first.
        crate::stop::before_exit(restore);
        ACTIVE.store(true, Ordering::SeqCst);
        held_log::hold();
        // From here on, whatever fails is undone by the guard's drop.
        let g = Guard;
        terminal::enable_raw_mode()?;
        execute!(
            io::stderr(),
            EnterAlternateScreen,
            cursor::Hide,
            terminal::Clear(terminal::ClearType::All)
        )?;
        Ok(g)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        restore();
    }
}

/// The view's thread: draws each model it is sent and whenever the terminal is resized, and
/// reads keys, until the sender hangs up. `stop` is the trace loop's stop flag.
pub fn run(rx: &Receiver<Model>, stop: Arc<AtomicBool>, by_time: bool) -> io::Result<()> {
    let _guard = Guard::enter()?;
    // Not `Terminal::clear`: it asks the terminal where the cursor is, on stdout, which may
    // be the report's file; the screen was cleared on entering it.
    let mut term = Terminal::new(CrosstermBackend::new(io::stderr()))?;
    let mut st = State::default();
    if by_time {
        st.sort = Sort::Time;
    }
    // Drawn at once: the frame, until the first interval fills it.
    let mut dirty = true;
    loop {
        loop {
            match rx.try_recv() {
                Ok(m) => {
                    st.update(m);
                    dirty = true;
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return last_keys(&stop),
            }
        }
        if dirty {
            term.draw(|f| screen::draw(f, &st))?;
            dirty = false;
        }
        if !event::poll(Duration::from_millis(100))? {
            continue;
        }
        match event::read()? {
            Event::Key(k) if k.kind != KeyEventKind::Release => match k.code {
                _ if ctrl_c(&k) => interrupt(&stop),
                KeyCode::Char('q' | 'Q') => stop.store(true, Ordering::SeqCst),
                KeyCode::Char('s' | 'S') => {
                    st.sort = st.sort.next();
                    dirty = true;
                }
                _ => {}
            },
            Event::Resize(..) => {
                term.autoresize()?;
                dirty = true;
            }
            _ => {}
        }
    }
}

fn ctrl_c(k: &KeyEvent) -> bool {
    k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL)
}

/// Keys typed since the last read, while raw mode still holds: a Ctrl-C among them is the
/// second stop (once raw mode is left, the kernel turns the next one into SIGINT itself).
fn last_keys(stop: &AtomicBool) -> io::Result<()> {
    while event::poll(Duration::ZERO)? {
        if let Event::Key(k) = event::read()?
            && k.kind != KeyEventKind::Release
            && ctrl_c(&k)
        {
            interrupt(stop);
        }
    }
    Ok(())
}

/// Ctrl-C in raw mode, where the kernel sends no SIGINT: the first asks for a clean stop, a
/// second exits at once with 130, as the signal handler does.
fn interrupt(stop: &AtomicBool) {
    if stop.swap(true, Ordering::SeqCst) {
        restore();
        crate::stop::exit_now()
    }
}
