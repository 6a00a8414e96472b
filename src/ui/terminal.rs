//! Entering and leaving the terminal's raw/alternate-screen mode. The terminal is
//! restored on every way out: normal exit (guard drop), panic (hook), and the signals
//! handled by the event loop (SIGTERM, SIGHUP, SIGINT).

use std::io::{self, Stdout};
use std::mem::ManuallyDrop;

use anyhow::{Context, Result};
use crossterm::event::DisableMouseCapture;
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

pub(crate) type Term = Terminal<CrosstermBackend<Stdout>>;

/// Restores the terminal when dropped.
pub(crate) struct TerminalGuard {
    /// Never dropped: ratatui's `Terminal` shows the cursor when dropped and prints
    /// to stderr when it cannot, which panics when the terminal went away (its window
    /// closed, SIGHUP) and takes stderr with it. [`restore`] shows the cursor instead.
    pub terminal: ManuallyDrop<Term>,
}

/// Puts the terminal back: leave the alternate screen, show the cursor, cooked mode.
pub fn restore() {
    let _ = disable_raw_mode();
    let _ = execute!(
        io::stdout(),
        LeaveAlternateScreen,
        DisableMouseCapture,
        crossterm::cursor::Show
    );
}

impl TerminalGuard {
    pub fn enter() -> Result<Self> {
        install_panic_hook();
        enable_raw_mode()
            .context("cannot switch the terminal to raw mode (is this a terminal?)")?;
        let mut out = io::stdout();
        // No mouse capture: the console has no use for clicks, and capturing them
        // would stop the operator selecting an error text to copy it.
        if let Err(e) = execute!(out, EnterAlternateScreen) {
            restore();
            return Err(e).context("cannot enter the alternate screen");
        }
        let terminal = Terminal::new(CrosstermBackend::new(out))
            .context("cannot start the terminal backend")?;
        Ok(Self {
            terminal: ManuallyDrop::new(terminal),
        })
    }
}

impl TerminalGuard {
    /// Runs `program` in the operator's terminal: the console's screen is put away
    /// (cooked mode, main screen, cursor shown) while it runs and fully redrawn after.
    /// The caller drops its terminal event stream first, so no key meant for the
    /// program is read by the console.
    pub(crate) async fn suspended(
        &mut self,
        program: &str,
        args: &[String],
    ) -> std::io::Result<std::process::ExitStatus> {
        restore();
        let status = tokio::process::Command::new(program)
            .args(args)
            .kill_on_drop(true)
            .status()
            .await;
        let back = enable_raw_mode().and_then(|()| {
            execute!(
                io::stdout(),
                EnterAlternateScreen,
                crossterm::terminal::Clear(crossterm::terminal::ClearType::All)
            )
        });
        if let Err(e) = back {
            tracing::warn!("cannot take the terminal back after {program}: {e}");
        }
        // The screen is blank now, not what ratatui last drew: a fresh terminal
        // draws every cell. (`Terminal::clear` would ask the terminal where its
        // cursor is, and wait for an answer some terminals never give.)
        match Terminal::new(CrosstermBackend::new(io::stdout())) {
            // The old one is dropped while the terminal is there.
            Ok(t) => drop(ManuallyDrop::into_inner(std::mem::replace(
                &mut self.terminal,
                ManuallyDrop::new(t),
            ))),
            Err(e) => tracing::warn!("cannot restart the terminal backend: {e}"),
        }
        status
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// A panic restores the terminal before the message is printed, so it is readable.
fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        tracing::error!("panic: {info}");
        previous(info);
    }));
}
