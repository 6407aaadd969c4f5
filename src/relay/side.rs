//! The two kinds of peer a relay joins, as websocat's `Peer` does: a byte
//! stream (TCP, Unix, TLS), or a peer that sends and receives whole
//! messages (a UDP client or upstream; WebSocket).
//!
//! A message peer is written against poll functions, like a
//! `futures::Stream` of messages that is also a `Sink`, so that one task can
//! drive both directions of a relay without locks, and so that any
//! WebSocket library's stream and sink can be adapted to it in a few lines.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite};

/// A byte stream a relay reads and writes.
pub trait ByteStream: AsyncRead + AsyncWrite + Send + Unpin {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin> ByteStream for T {}

/// One message of a message peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A WebSocket text message (valid UTF-8).
    Text(Bytes),
    /// A datagram, or a WebSocket binary message.
    Binary(Bytes),
    /// The peer closes (WebSocket: its close frame's code and reason, if
    /// any). Nothing follows it.
    Close(Option<(u16, String)>),
}

impl Message {
    /// The payload's length (0 for a close).
    pub fn len(&self) -> usize {
        match self {
            Message::Text(b) | Message::Binary(b) => b.len(),
            Message::Close(_) => 0,
        }
    }

    /// True for an empty payload or a close.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A peer that sends and receives whole messages.
///
/// The sending half follows `futures::Sink`: [`poll_ready`] until one more
/// message may be given, [`start_send`] to give it, [`poll_flush`] to push
/// what was given out, [`poll_close`] to end the sending side. The relay
/// never holds more than one message per direction, so a peer that stops
/// taking messages stops the relay reading the other side.
///
/// [`poll_ready`]: MessagePeer::poll_ready
/// [`start_send`]: MessagePeer::start_send
/// [`poll_flush`]: MessagePeer::poll_flush
/// [`poll_close`]: MessagePeer::poll_close
pub trait MessagePeer: Send + Unpin {
    /// The next message; `Ready(Ok(None))` when the peer has gone.
    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<Message>>>;
    /// Ready when [`MessagePeer::start_send`] may be called.
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    /// Gives one message to send (after `poll_ready` said so).
    fn start_send(&mut self, message: Message) -> io::Result<()>;
    /// Sends what was given.
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    /// Ends the sending side: the other side of the relay has finished
    /// (WebSocket: a close frame, 1000 unless a `Close` was sent).
    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    /// The largest payload it sends whole: bytes read from a stream go to
    /// it in chunks no larger.
    fn max_message(&self) -> usize;
    /// Whether the peer can end a session by itself. UDP cannot: it has
    /// no close, so only silence ends a session of it.
    fn ends(&self) -> bool;
    /// The peer has closed both ways: nothing given to it goes anywhere
    /// any more (a WebSocket after its close frame). A stream or UDP
    /// never is.
    fn closed(&self) -> bool {
        false
    }
    /// Whether a message given now is sent rather than dropped (a
    /// WebSocket drops what comes after its close): only what is sent
    /// counts as written.
    fn sends(&self) -> bool {
        true
    }
    /// The session is being ended early, for this reason: a peer with a
    /// close of its own (WebSocket) closes with this code and reason when
    /// [`MessagePeer::poll_close`] comes. UDP has nothing to say.
    fn closing(&mut self, code: u16, reason: &str) {
        let _ = (code, reason);
    }
}

/// One side of a relay.
pub enum Side {
    Bytes(Box<dyn ByteStream>),
    Messages(Box<dyn MessagePeer>),
}

impl Side {
    /// Whether the side can end a session by itself (see
    /// [`MessagePeer::ends`]); a byte stream does, with EOF.
    pub fn ends(&self) -> bool {
        match self {
            Side::Bytes(_) => true,
            Side::Messages(m) => m.ends(),
        }
    }
}

impl Side {
    /// See [`MessagePeer::closed`].
    pub fn closed(&self) -> bool {
        match self {
            Side::Bytes(_) => false,
            Side::Messages(m) => m.closed(),
        }
    }

    /// Pushes out what was written or given.
    pub fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            Side::Bytes(out) => Pin::new(&mut **out).poll_flush(cx),
            Side::Messages(peer) => peer.poll_flush(cx),
        }
    }

    /// Ends the sending side: a half-close (FIN; over TLS a close_notify
    /// first), or the message peer's close. A stream whose peer has
    /// already gone cannot be half-closed, and needs no more.
    pub fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let r = match self {
            Side::Bytes(out) => ready!(Pin::new(&mut **out).poll_shutdown(cx)),
            Side::Messages(peer) => ready!(peer.poll_close(cx)),
        };
        Poll::Ready(match r {
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
            r => r,
        })
    }
}

impl std::fmt::Debug for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Side::Bytes(_) => "Side::Bytes",
            Side::Messages(_) => "Side::Messages",
        })
    }
}
