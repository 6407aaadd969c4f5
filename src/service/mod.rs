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
mod session;
mod stats;

use std::sync::Arc;

pub use counter::Counter;
pub use daytime::{Daytime, DaytimeFormat};
pub use random::{Random, RandomConfig};
pub use session::{Flow, LineService, Session, handle_request};
pub use stats::{Stats, StoreState};

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
