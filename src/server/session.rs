//! One client session as the server accounts for it, whatever the
//! transport: counted when admitted, its traffic tallied as it goes, and one
//! log line when it ends saying how long it lasted, what it moved and why it
//! ended.

use std::io;

use super::interrupts::Interrupt;
use super::metrics::{Counters, ErrorKind, Limit, Transport};
use super::mounted::Mounted;
use super::peer::Peer;
use super::shared::Shared;
use crate::service::Session;

/// Why a session ended (for logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The client closed its side.
    ClientClosed,
    /// `STOP`, or a service that closes by itself (`daytime --once`).
    ServiceClosed,
    /// `--idle-timeout` passed without traffic.
    Idle,
    /// The server is shutting down.
    Shutdown,
}

impl End {
    pub fn describe(self) -> &'static str {
        match self {
            End::ClientClosed => "client closed",
            End::ServiceClosed => "closed by the service",
            End::Idle => "idle timeout",
            End::Shutdown => "server shutdown",
        }
    }
}

impl From<Interrupt> for End {
    fn from(e: Interrupt) -> End {
        match e {
            Interrupt::Idle | Interrupt::Ping => End::Idle,
            Interrupt::Shutdown => End::Shutdown,
        }
    }
}

/// One session's traffic: updates the shared counters as it happens and
/// keeps the session's own totals for its closing log line.
pub struct Traffic<'a> {
    pub counters: &'a Counters,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub requests: u64,
}

impl<'a> Traffic<'a> {
    pub fn new(counters: &'a Counters) -> Traffic<'a> {
        Traffic {
            counters,
            bytes_in: 0,
            bytes_out: 0,
            requests: 0,
        }
    }

    #[inline]
    pub fn received(&mut self, n: usize) {
        self.bytes_in += n as u64;
        self.counters.received(n);
    }

    #[inline]
    pub fn sent(&mut self, n: usize) {
        self.bytes_out += n as u64;
        self.counters.sent(n);
    }

    #[inline]
    pub fn request(&mut self) {
        self.requests += 1;
        self.counters.request();
    }
}

/// One admitted session, from the moment it is counted to its closing log
/// line.
pub struct SessionLog<'a> {
    pub counters: &'a Counters,
    transport: Transport,
    service: &'static str,
    peer: Peer,
    start: tokio::time::Instant,
}

impl<'a> SessionLog<'a> {
    /// Counts a newly admitted session (for `counter` and the metrics) and
    /// opens the service's session for it (`None` for echo). Awaited: with
    /// a `--counter-store` the client is counted there, and its session
    /// starts once it is (or once counting it has failed).
    pub async fn open(
        shared: &Shared,
        mounted: &'a Mounted,
        transport: Transport,
        peer: Peer,
    ) -> (SessionLog<'a>, Option<Box<dyn Session>>) {
        let counted = shared.count_client().await;
        let counters = mounted.counters.get(transport);
        counters.opened();
        tracing::debug!(%peer, transport = transport.label(), service = mounted.name(), counted, "connected");
        let log = SessionLog {
            counters,
            transport,
            service: mounted.name(),
            peer,
            start: tokio::time::Instant::now(),
        };
        (log, mounted.open_session(counted))
    }

    /// Records how the session ended and writes its one log line.
    pub fn close(self, traffic: &Traffic<'_>, result: &io::Result<End>) {
        self.counters.closed();
        // Formatted only if the line is written (see `Reason`).
        let reason = match result {
            Ok(End::Idle) => {
                self.counters.limit_hit(Limit::IdleTimeout);
                Reason::Ended("idle timeout")
            }
            Ok(end) => Reason::Ended(end.describe()),
            Err(e) => {
                self.counters.error(ErrorKind::Io);
                Reason::Error(e)
            }
        };
        tracing::info!(
            peer = %self.peer,
            proxy = self.peer.proxy().map(tracing::field::display),
            transport = self.transport.label(),
            service = self.service,
            duration_ms = self.start.elapsed().as_millis() as u64,
            bytes_in = traffic.bytes_in,
            bytes_out = traffic.bytes_out,
            requests = traffic.requests,
            reason = %reason,
            "session closed"
        );
    }
}

/// Why a session ended, as its log line says it.
enum Reason<'a> {
    Ended(&'static str),
    Error(&'a io::Error),
}

impl std::fmt::Display for Reason<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::Ended(s) => f.write_str(s),
            Reason::Error(e) => write!(f, "error: {e}"),
        }
    }
}
