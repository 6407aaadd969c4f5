//! Relaying between two peers, whatever they are: `duplex bridge` joins
//! every client it accepts to its own upstream with a [`Relay`].
//!
//! A peer is a [`Side`]: a byte stream (TCP, Unix, TLS) or a message peer
//! (a UDP client or upstream; WebSocket), as websocat's `Peer` is. Data
//! crosses from one kind to the other this way:
//!
//! * stream to stream: bytes as they come; EOF becomes a half-close, and
//!   the relay is done when both directions are;
//! * message to message: each message whole, its type kept;
//! * message to stream: each message's payload as bytes (`--lines`: followed
//!   by `\n` unless it ends with one);
//! * stream to message: each read (at most the buffer size, or the largest
//!   message the peer sends whole) as one binary message; `--lines`: each
//!   line, with its line break, as one message, and a line longer than the
//!   buffer as several.
//!
//! **Memory.** Each direction holds at most one buffer's worth (one read,
//! or one message) that the other side has not taken, and reads nothing
//! more until it is taken: when one side stops reading, the relay stops
//! reading the other, and a session's memory stays below two buffers
//! (`--buffer-size`, default [`Settings::default`]). An idle relay holds no
//! buffer at all (see `direction`).
//!
//! ```text
//! mod.rs        Relay: both directions of one session, polled by one task
//! side.rs       Side: a byte stream or a message peer (the MessagePeer trait)
//! direction/    one direction: read, hold at most one buffer, deliver, close
//! scratch.rs    the worker thread's read buffer, lent for one poll
//! udp.rs        UDP as message peers: a client of a UDP listener, a dialled upstream
//! ws.rs         WebSocket as a message peer: close frames each way, error codes
//! proxy.rs      the PROXY protocol header that starts an upstream stream
//! ```

mod direction;
pub mod proxy;
mod scratch;
mod side;
pub mod udp;
pub mod ws;

use std::io;
use std::task::{Context, Poll};

use direction::{Direction, Fault};
pub use scratch::MAX_DATAGRAM;
pub use side::{ByteStream, Message, MessagePeer, Side};

/// How a relay moves data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Bytes read at once, and the most held per direction.
    pub buffer: usize,
    /// Where a stream meets a message peer: one line is one message (and a
    /// message is written as a line).
    pub lines: bool,
    /// Where bytes (a stream's, a datagram's) become WebSocket messages:
    /// text messages rather than binary ones (bytes that are not UTF-8
    /// still go as binary).
    pub text: bool,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            buffer: 16 * 1024,
            lines: false,
            text: false,
        }
    }
}

/// Which side of a relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// The side that was accepted.
    Client,
    /// The side that was dialled.
    Upstream,
}

/// A failure on one side of a relay.
#[derive(Debug)]
pub struct Failure {
    pub side: Which,
    pub error: io::Error,
}

/// Both directions between a client and its upstream.
pub struct Relay {
    client: Side,
    upstream: Side,
    /// Client to upstream.
    up: Direction,
    /// Upstream to client.
    down: Direction,
    /// The side whose data ended first.
    first_end: Option<Which>,
}

impl Relay {
    pub fn new(client: Side, upstream: Side, settings: Settings) -> Relay {
        Relay {
            up: Direction::new(settings.buffer, settings.lines, settings.text, &upstream),
            down: Direction::new(settings.buffer, settings.lines, settings.text, &client),
            client,
            upstream,
            first_end: None,
        }
    }

    /// Moves data both ways until something happened: `Ready(Ok(()))`
    /// after any progress (the caller counts it and calls again),
    /// `Pending` while both directions wait, an error when a side failed.
    pub fn poll_progress(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Failure>> {
        let up = self.up.poll_step(cx, &mut self.client, &mut self.upstream);
        let down = self
            .down
            .poll_step(cx, &mut self.upstream, &mut self.client);
        let mut moved = false;
        for (poll, source, sink) in [
            (up, Which::Client, Which::Upstream),
            (down, Which::Upstream, Which::Client),
        ] {
            match poll {
                Poll::Ready(Ok(())) => moved = true,
                Poll::Ready(Err(Fault::Source(error))) => {
                    return Poll::Ready(Err(Failure {
                        side: source,
                        error,
                    }));
                }
                Poll::Ready(Err(Fault::Sink(error))) => {
                    return Poll::Ready(Err(Failure { side: sink, error }));
                }
                Poll::Pending => {}
            }
        }
        if self.first_end.is_none() {
            if self.up.source_ended() {
                self.first_end = Some(Which::Client);
            } else if self.down.source_ended() {
                self.first_end = Some(Which::Upstream);
            }
        }
        if moved {
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    }

    /// Both directions are over: each source ended and each sink closed.
    pub fn done(&self) -> bool {
        self.up.done() && self.down.done()
    }

    /// The side whose data ended first, if any has.
    pub fn first_end(&self) -> Option<Which> {
        self.first_end
    }

    /// One direction is over and the other reads from a peer that never
    /// ends by itself (UDP), or writes to one that has closed (a
    /// WebSocket after its close): only silence can end the session now.
    pub fn lingers(&self) -> bool {
        let (up, down) = (self.up.source_ended(), self.down.source_ended());
        (up && !down && (!self.upstream.ends() || self.client.closed()))
            || (down && !up && (!self.client.ends() || self.upstream.closed()))
    }

    /// A side has closed both ways (see [`MessagePeer::closed`]).
    pub fn peer_closed(&self) -> bool {
        self.client.closed() || self.upstream.closed()
    }

    /// A side has closed both ways (a WebSocket after its close), and its
    /// close has reached the other side, which has no close to answer with
    /// (a stream gets EOF, UDP nothing): what that side still sends could
    /// go nowhere, so the session is over whether it ends or not.
    pub fn closed_through(&self) -> bool {
        let answers = |side: &Side| matches!(side, Side::Messages(m) if m.ends());
        (self.client.closed() && self.up.done() && !answers(&self.upstream))
            || (self.upstream.closed() && self.down.done() && !answers(&self.client))
    }

    /// Payload bytes (from the client, to the client) so far.
    pub fn traffic(&self) -> (u64, u64) {
        (self.up.read, self.down.written)
    }

    /// The session is being ended early: message peers that can say why
    /// (WebSocket) close with `code` and `reason` (see
    /// [`MessagePeer::closing`]).
    pub fn closing(&mut self, code: u16, reason: &str) {
        for side in [&mut self.client, &mut self.upstream] {
            if let Side::Messages(m) = side {
                m.closing(code, reason);
            }
        }
    }

    /// Ends the relay early (shutdown, idle timeout, a failed side): what
    /// is held is delivered and the sinks are closed, except toward
    /// `failed`, which is past caring. Bound it with a timeout.
    pub fn poll_wind_down(&mut self, cx: &mut Context<'_>, failed: Option<Which>) -> Poll<()> {
        let up = if failed == Some(Which::Upstream) {
            Poll::Ready(Ok(()))
        } else {
            self.up.poll_wind_down(cx, &mut self.upstream)
        };
        let down = if failed == Some(Which::Client) {
            Poll::Ready(Ok(()))
        } else {
            self.down.poll_wind_down(cx, &mut self.client)
        };
        match (up, down) {
            (Poll::Ready(_), Poll::Ready(_)) => Poll::Ready(()),
            _ => Poll::Pending,
        }
    }
}
