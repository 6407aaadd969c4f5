//! Services: what the server says, independent of how it is carried.
//!
//! There are two kinds of service, and the split is deliberate:
//!
//! * **echo** reflects whatever arrives, byte for byte, with no framing and no
//!   special words (RFC 862). Reflection is a property of the pipe, so each
//!   transport implements it in its cheapest form (a copy loop on streams, the
//!   same datagram or message back on UDP and WebSocket) and the service layer
//!   only names it: [`Service::Echo`].
//! * **line services** (`daytime`, `random`, `counter`) answer requests with
//!   replies. A transport frames requests (a line, a datagram, a message) and
//!   hands each to a [`Session`]; the session queues replies that the
//!   transport pulls one at a time with [`Session::next_reply`]. Pulling rather
//!   than returning a `Vec` keeps memory bounded (a `random 100000` request
//!   is generated as the socket drains, never buffered whole) and lets a
//!   transport reuse one reply buffer for the life of a connection.

pub mod counter;
pub mod daytime;
pub mod random;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub use counter::Counter;
pub use daytime::{Daytime, DaytimeFormat};
pub use random::{Random, RandomConfig};

/// What the transport should do after handing a request to a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Send the queued replies and keep reading requests.
    Continue,
    /// Send the queued replies, then end the session (`STOP`, `--once`).
    Close,
}

/// One client's conversation with a line service.
pub trait Session: Send {
    /// Called once when the session opens (stream and WebSocket transports);
    /// may queue a greeting.
    fn open(&mut self) -> Flow {
        Flow::Continue
    }

    /// Handles one request, already trimmed of surrounding whitespace and
    /// known not to be `STOP`. Queues zero or more replies.
    fn request(&mut self, request: &[u8]);

    /// Writes the next queued reply into `out` (which is empty), without a
    /// line terminator. Returns `false` when nothing is queued.
    fn next_reply(&mut self, out: &mut Vec<u8>) -> bool;
}

/// A line service: a factory of sessions.
pub trait LineService: Send + Sync {
    /// The service's name, as used on the command line.
    fn name(&self) -> &'static str;
    /// A new session. `ordinal` numbers this service's sessions from 0 in the
    /// order they were opened (it seeds reproducible random numbers).
    fn session(&self, ordinal: u64) -> Box<dyn Session>;
}

/// Feeds one raw request (a line without its terminator, a datagram or a
/// message) to a session: trims it, recognises `STOP`, and returns what the
/// transport should do next.
///
/// This is the single place where request framing rules of SPEC §2 live, so
/// every transport treats requests identically.
pub fn handle_request(session: &mut dyn Session, raw: &[u8], allow_stop: bool) -> Flow {
    let request = raw.trim_ascii();
    if allow_stop && request == b"STOP" {
        return Flow::Close;
    }
    session.request(request);
    Flow::Continue
}

/// A service as the server runs it.
#[derive(Clone)]
pub enum Service {
    /// Reflect everything (RFC 862); implemented by each transport.
    Echo,
    /// A request/reply service.
    Line(Arc<dyn LineService>),
}

impl Service {
    pub fn name(&self) -> &'static str {
        match self {
            Service::Echo => "echo",
            Service::Line(s) => s.name(),
        }
    }
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Process-wide statistics shared by every listener and transport.
#[derive(Debug, Default)]
pub struct Stats {
    /// Clients that have connected since the server started, over all
    /// transports: what `counter` reports.
    clients: AtomicU64,
}

impl Stats {
    pub fn new() -> Arc<Stats> {
        Arc::new(Stats::default())
    }

    /// Records a newly admitted client and returns the new total.
    pub fn client_connected(&self) -> u64 {
        self.clients.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub fn clients(&self) -> u64 {
        self.clients.load(Ordering::Relaxed)
    }
}

/// At most one pending reply, rendered when it is pulled (so the time or
/// the count is fresh): enough for daytime and counter, which answer each
/// request with exactly one line.
#[derive(Debug, Default)]
pub(crate) struct OneReply(bool);

impl OneReply {
    pub(crate) fn queue(&mut self) {
        self.0 = true;
    }

    /// Pulls the pending reply, rendering it with `render`.
    pub(crate) fn pull(&mut self, out: &mut Vec<u8>, render: impl FnOnce(&mut Vec<u8>)) -> bool {
        let pending = std::mem::take(&mut self.0);
        if pending {
            render(out);
        }
        pending
    }
}

#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// Runs one request and collects every reply as a string.
    pub fn ask(session: &mut dyn Session, request: &str) -> Vec<String> {
        handle_request(session, request.as_bytes(), true);
        drain(session)
    }

    pub fn drain(session: &mut dyn Session) -> Vec<String> {
        let mut replies = Vec::new();
        let mut buf = Vec::new();
        while session.next_reply(&mut buf) {
            replies.push(String::from_utf8_lossy(&buf).into_owned());
            buf.clear();
        }
        replies
    }
}
