//! The signals that end the console from outside: SIGTERM (shutdown, `kill`), SIGHUP
//! (the SSH session dropped) and SIGINT (`kill -INT`; ctrl-c itself is a key in raw
//! mode). Each one restores the terminal; during a plan it first stops the plan
//! cleanly (see [`super::plans`]).

use tokio::signal::unix::{Signal, SignalKind, signal};

pub(crate) struct Signals {
    term: Signal,
    hup: Signal,
    int: Signal,
}

impl Signals {
    pub fn install() -> std::io::Result<Self> {
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    /// The next signal's name.
    pub async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.hup.recv() => "SIGHUP",
            _ = self.int.recv() => "SIGINT",
        }
    }
}
