//! Signals: the first SIGINT or SIGTERM starts a graceful shutdown, a second
//! one exits at once with status 130.

use tokio::signal::unix::{Signal, SignalKind, signal};

/// SIGINT and SIGTERM, registered together. Create this before binding any
/// listener so that a signal arriving right after the `listening` line is
/// handled gracefully instead of killing the process.
pub struct Signals {
    int: Signal,
    term: Signal,
}

impl Signals {
    pub fn install() -> std::io::Result<Signals> {
        Ok(Signals {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
        })
    }

    /// Waits for the next SIGINT or SIGTERM and returns its name.
    pub async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.int.recv() => "SIGINT",
            _ = self.term.recv() => "SIGTERM",
        }
    }
}
