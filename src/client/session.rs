//! What every `duplex connect` session shares whatever its transport: how it
//! ended, Ctrl-C, and the clock behind `-w` and `--quit-after`.

use std::cell::Cell;
use std::time::Duration;

use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::time::Instant;

use crate::cli::ConnectArgs;
use crate::endpoint::Endpoint;

/// A failure of `duplex connect`, as one clear line.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConnectError(pub String);

/// How a session that did not fail ended; the binary turns it into the
/// exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The session is over: the server closed, stdin ended and the
    /// session wound down, `--quit-after` passed, `-z` succeeded, or
    /// whoever reads stdout stopped reading (`| head`).
    Done,
    /// Ctrl-C (SIGINT). The session was still closed properly (WebSocket:
    /// close 1000) before exiting.
    Interrupted,
}

impl Ending {
    /// 0, or 130 (128 + SIGINT) after Ctrl-C: the status a shell reports
    /// for `nc` or `websocat` stopped by Ctrl-C, so `cmd && next` and
    /// `set -e` scripts stop there as they would with those tools.
    pub fn exit_code(self) -> i32 {
        match self {
            Ending::Done => 0,
            Ending::Interrupted => 130,
        }
    }
}

/// SIGINT, caught from the start of `connect` so that Ctrl-C always ends
/// the session the same way, whichever phase it is in.
pub struct Interrupt(Signal);

impl Interrupt {
    pub fn new() -> anyhow::Result<Interrupt> {
        let s = signal(SignalKind::interrupt())
            .map_err(|e| ConnectError(format!("cannot watch for Ctrl-C: {e}")))?;
        Ok(Interrupt(s))
    }

    /// Completes at the next Ctrl-C.
    pub async fn recv(&mut self) {
        // `None` only when the signal driver is gone: then no Ctrl-C can
        // come any more.
        if self.0.recv().await.is_none() {
            std::future::pending::<()>().await;
        }
    }

    /// Runs `fut` (connecting, `-z`), or returns `None` at Ctrl-C.
    pub async fn or<T>(&mut self, fut: impl Future<Output = T>) -> Option<T> {
        tokio::select! {
            v = fut => Some(v),
            _ = self.recv() => None,
        }
    }
}

/// Why [`Clock::expired`] fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// Nothing went either way for `-w`.
    Idle,
    /// `--quit-after` passed since stdin ended.
    Quit,
}

/// The session's deadlines: `-w` (idle, either direction) and
/// `--quit-after` (after stdin EOF).
///
/// Activity is recorded through a `Cell`, so that the two directions of a
/// stream session, polled by one task, can both record it; the deadline is
/// recomputed whenever [`Clock::expired`] wakes, so recording costs no
/// timer operation.
pub struct Clock {
    idle: Option<Duration>,
    quit_after: Option<Duration>,
    last: Cell<Instant>,
    eof: Cell<Option<Instant>>,
}

impl Clock {
    pub fn new(args: &ConnectArgs) -> Clock {
        Clock {
            idle: args.idle_timeout,
            quit_after: args.quit_after,
            last: Cell::new(Instant::now()),
            eof: Cell::new(None),
        }
    }

    /// Data went one way or the other, or the session started (the time
    /// spent connecting is not idleness).
    pub fn touch(&self) {
        if self.idle.is_some() {
            self.last.set(Instant::now());
        }
    }

    /// Stdin ended: `--quit-after` starts counting.
    pub fn stdin_ended(&self) {
        self.eof.set(Some(Instant::now()));
    }

    /// True when `--quit-after` was given.
    pub fn lingers(&self) -> bool {
        self.quit_after.is_some()
    }

    /// Stops watching for idleness (UDP after stdin EOF, where `--wait`
    /// decides).
    pub fn forget_idle(&mut self) {
        self.idle = None;
    }

    fn next(&self) -> Option<(Instant, Expiry)> {
        let idle = self.idle.map(|d| (self.last.get() + d, Expiry::Idle));
        let quit = self
            .quit_after
            .zip(self.eof.get())
            .map(|(d, at)| (at + d, Expiry::Quit));
        match (idle, quit) {
            (Some(i), Some(q)) => Some(if q.0 <= i.0 { q } else { i }),
            (i, q) => i.or(q),
        }
    }

    /// Completes when a deadline has passed. Create it afresh after
    /// [`Clock::stdin_ended`]: a waiting future does not see the new
    /// deadline.
    pub async fn expired(&self) -> Expiry {
        loop {
            let Some((at, _)) = self.next() else {
                return std::future::pending().await;
            };
            tokio::time::sleep_until(at).await;
            // Activity since may have moved the deadline on.
            if let Some((at, why)) = self.next()
                && at <= Instant::now()
            {
                return why;
            }
        }
    }

    /// The one line that `-w` ending a session prints.
    pub fn idle_error(&self, url: &Endpoint) -> anyhow::Error {
        let d = self.idle.unwrap_or_default();
        ConnectError(format!(
            "{url}: nothing sent or received for {d:?} (-w); giving up"
        ))
        .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn clock(flags: &[&str]) -> Clock {
        let mut argv = vec!["duplex", "connect", "tcp://127.0.0.1:1"];
        argv.extend_from_slice(flags);
        let cli = crate::cli::Cli::parse_from(argv);
        let crate::cli::Command::Connect(args) = cli.command else {
            unreachable!("parsed a connect command");
        };
        Clock::new(&args)
    }

    #[tokio::test(start_paused = true)]
    async fn idle_deadline_follows_activity() {
        let c = clock(&["-w", "5s"]);
        let start = Instant::now();
        tokio::time::advance(Duration::from_secs(3)).await;
        c.touch();
        assert_eq!(c.expired().await, Expiry::Idle);
        assert_eq!(Instant::now() - start, Duration::from_secs(8));
    }

    #[tokio::test(start_paused = true)]
    async fn quit_after_counts_from_stdin_eof_and_wins_when_earlier() {
        let c = clock(&["-w", "10s", "--quit-after", "2s"]);
        tokio::time::advance(Duration::from_secs(1)).await;
        c.stdin_ended();
        let eof = Instant::now();
        assert_eq!(c.expired().await, Expiry::Quit);
        assert_eq!(Instant::now() - eof, Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn no_deadline_without_flags() {
        let c = clock(&[]);
        c.stdin_ended();
        let r = tokio::time::timeout(Duration::from_secs(3600), c.expired()).await;
        assert!(r.is_err(), "nothing expires without -w or --quit-after");
    }

    #[test]
    fn interrupted_is_130() {
        assert_eq!(Ending::Done.exit_code(), 0);
        assert_eq!(Ending::Interrupted.exit_code(), 130);
    }
}
