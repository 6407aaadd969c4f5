//! A WebSocket connection after its opening handshake, as whole messages:
//! what a server session, `duplex connect`, the bench and a relay drive.
//!
//! Fragments are reassembled and compressed messages inflated (within the
//! limit, while inflating) by the crate; pings are answered by it. What this
//! type adds is what every user would otherwise get wrong: control answers
//! the crate queues go out only on a later read, so [`WebSocket::finish`]
//! sends the answer to a peer's close; [`WebSocket::fail`] gives the peer
//! the close code RFC 6455 assigns to each kind of error, exactly once;
//! [`WebSocket::close`] stops reading at the peer's answer, so that no
//! second close frame goes out.

use std::io;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{FutureExt, SinkExt};
use tokio::io::{AsyncRead, AsyncWrite};
use yawc::close::CloseCode;
use yawc::{Frame, OpCode, WebSocketError};

use super::close::Close;
use super::config::Config;
use super::unvectored::Unvectored;

/// Which end of the connection this is: a client masks what it sends.
pub use yawc::Role;

/// The type of a data message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// UTF-8 text (checked on receipt).
    Text,
    Binary,
}

/// One whole data message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub kind: Kind,
    pub payload: Bytes,
}

impl Message {
    /// A text message; `payload` must be UTF-8.
    pub fn text(payload: impl Into<Bytes>) -> Message {
        Message {
            kind: Kind::Text,
            payload: payload.into(),
        }
    }

    pub fn binary(payload: impl Into<Bytes>) -> Message {
        Message {
            kind: Kind::Binary,
            payload: payload.into(),
        }
    }

    fn into_frame(self) -> Frame {
        match self.kind {
            Kind::Text => Frame::text(self.payload),
            Kind::Binary => Frame::binary(self.payload),
        }
    }
}

/// What [`WebSocket::recv`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    Message(Message),
    /// An answer to a ping.
    Pong,
    /// The peer closed (`None`: its close frame had no code). Call
    /// [`WebSocket::finish`] to send the answer, then drop the connection.
    Close(Option<Close>),
}

/// Why a connection cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A message over the limit (whole, or inflated): close code 1009.
    #[error("a message over the size limit")]
    TooBig,
    /// A text message that is not UTF-8: close code 1007.
    #[error("a text message that is not UTF-8")]
    Utf8,
    /// Anything else the peer got wrong: close code 1002.
    #[error("protocol error: {0}")]
    Protocol(ProtocolError),
    /// The connection was closed before (a close handshake completed).
    #[error("the connection is closed")]
    Closed,
    #[error("{0}")]
    Io(io::Error),
}

/// A protocol error, and whether the peer still gets a close frame for it.
#[derive(Debug)]
pub struct ProtocolError {
    why: String,
    /// Drop the connection without a close frame: for an unknown opcode
    /// (the crate would answer 1003, RFC 6455 wants 1002 or nothing) and a
    /// close frame over 125 bytes (the crate would echo it).
    drop: bool,
}

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.why)
    }
}

impl From<WebSocketError> for Error {
    fn from(e: WebSocketError) -> Error {
        let protocol = |drop| {
            Error::Protocol(ProtocolError {
                why: e.to_string(),
                drop,
            })
        };
        match e {
            WebSocketError::FrameTooLarge => Error::TooBig,
            WebSocketError::InvalidUTF8 => Error::Utf8,
            WebSocketError::ConnectionClosed => Error::Closed,
            WebSocketError::InvalidOpCode(_) => protocol(true),
            WebSocketError::IoError(e) => Error::Io(e),
            _ => protocol(false),
        }
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        match e {
            Error::Io(e) => e,
            Error::Closed => io::ErrorKind::UnexpectedEof.into(),
            other => io::Error::new(io::ErrorKind::InvalidData, other.to_string()),
        }
    }
}

/// An open WebSocket connection over any byte stream.
pub struct WebSocket<S> {
    inner: yawc::WebSocket<Unvectored<S>>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> WebSocket<S> {
    /// Runs the protocol over `io`, whose opening handshake is done, with
    /// the permessage-deflate parameters the handshake agreed (`None`: no
    /// compression).
    pub fn new(
        io: S,
        role: Role,
        agreed: Option<&super::deflate::Params>,
        config: &Config,
    ) -> Result<WebSocket<S>, Error> {
        let agreed = agreed.map(ToString::to_string);
        let inner = yawc::WebSocket::from_stream_with_extensions(
            Unvectored(io),
            role,
            agreed.as_deref(),
            config.options.clone(),
        )?;
        Ok(WebSocket { inner })
    }

    /// With `on`, reads wait with the task's waker registered on the
    /// socket itself instead of through the crate's wake proxy. Only for a
    /// stream whose reads wait for read readiness alone: a plain TCP or
    /// Unix socket, never TLS (which may write while it reads). About 140
    /// fewer instructions per 64-byte message (BENCHMARKS.md, "fifth
    /// pass").
    pub fn set_direct_read_wakeups(&mut self, on: bool) {
        self.inner.set_direct_read_wakeups(on);
    }

    /// The next message, pong or close. Cancel-safe: dropping the future
    /// loses nothing, so it can wait beside timers and shutdown.
    pub async fn recv(&mut self) -> Result<Incoming, Error> {
        loop {
            let frame = self.inner.next_frame().await?;
            let kind = match frame.opcode() {
                OpCode::Text => Kind::Text,
                OpCode::Binary => Kind::Binary,
                OpCode::Pong => return Ok(Incoming::Pong),
                OpCode::Close if frame.payload().len() > 125 => {
                    return Err(Error::Protocol(ProtocolError {
                        why: "a close frame over 125 bytes".into(),
                        drop: true,
                    }));
                }
                OpCode::Close => return Ok(Incoming::Close(close_of(&frame))),
                // Pings are answered by the crate; continuations are
                // reassembled before they get here.
                OpCode::Ping | OpCode::Continuation => continue,
            };
            return Ok(Incoming::Message(Message {
                kind,
                payload: frame.into_payload(),
            }));
        }
    }

    /// Sends one message and flushes it. A small message goes out in one
    /// write from the stack, past the crate's sink (yawc patch 7).
    pub async fn send(&mut self, message: Message) -> Result<(), Error> {
        Ok(self.inner.send_frame(message.into_frame()).await?)
    }

    /// Queues one message; [`WebSocket::flush`] sends what is queued (the
    /// crate also writes when its buffer is full).
    pub async fn feed(&mut self, message: Message) -> Result<(), Error> {
        Ok(self.inner.feed(message.into_frame()).await?)
    }

    pub async fn flush(&mut self) -> Result<(), Error> {
        Ok(SinkExt::flush(&mut self.inner).await?)
    }

    /// Sends a ping with no payload.
    pub async fn ping(&mut self) -> Result<(), Error> {
        Ok(self.inner.send_frame(Frame::ping(Bytes::new())).await?)
    }

    /// Sends a close frame without waiting for the answer (the caller
    /// drops the connection next).
    pub async fn send_close(&mut self, close: &Close) -> Result<(), Error> {
        let frame = Frame::close(CloseCode::from(close.code), close.reason.as_bytes());
        Ok(self.inner.send(frame).await?)
    }

    /// After [`Incoming::Close`]: sends the answer the crate queued, within
    /// `wait`.
    pub async fn finish(&mut self, wait: Duration) {
        let _ = tokio::time::timeout(wait, self.inner.next_frame()).await;
    }

    /// Starts the close handshake with `close` and waits at most `wait` for
    /// the peer's answer: `Some(answer)` (its code, if any), or `None`
    /// when it did not come. Data messages that arrive meanwhile go to
    /// `seen`.
    pub async fn close(
        &mut self,
        close: &Close,
        wait: Duration,
        mut seen: impl FnMut(Message),
    ) -> Option<Option<Close>> {
        let answer = tokio::time::timeout(wait, async {
            self.send_close(close).await.ok()?;
            loop {
                let frame = self.inner.next_frame().await.ok()?;
                // Reading stops at the peer's close: the crate would answer
                // it once more on the next read.
                match frame.opcode() {
                    OpCode::Close => return Some(close_of(&frame)),
                    OpCode::Text => seen(Message::text(frame.into_payload())),
                    OpCode::Binary => seen(Message::binary(frame.into_payload())),
                    _ => {}
                }
            }
        });
        answer.await.ok().flatten()
    }

    /// After `recv` failed with `e`: tells the peer why, with the close code
    /// RFC 6455 assigns (1009, 1007, 1002), within `wait`; the caller then
    /// drops the connection.
    pub async fn fail(&mut self, e: &Error, wait: Duration) {
        let (code, reason) = match e {
            Error::TooBig => (CloseCode::Size, "message too big"),
            Error::Utf8 => (CloseCode::Invalid, "invalid UTF-8"),
            Error::Protocol(p) if p.drop => return,
            Error::Protocol(_) => (CloseCode::Protocol, "protocol error"),
            Error::Closed | Error::Io(_) => return,
        };
        // The crate queues a close frame of its own for the errors of its
        // frame layer, and the next read writes it and reports the end at
        // once; for the errors found while assembling a message (invalid
        // UTF-8, a fragment out of order) it queues none.
        let queued = matches!(
            self.inner.next_frame().now_or_never(),
            Some(Err(WebSocketError::ConnectionClosed))
        );
        if !queued {
            let frame = Frame::close(code, reason);
            let _ = tokio::time::timeout(wait, self.inner.send(frame)).await;
        }
    }
}

impl<S> WebSocket<S> {
    /// The crate's socket, for a caller that polls it frame by frame
    /// rather than awaiting whole messages: a relay's message peer
    /// (`crate::relay::ws`).
    pub(crate) fn frames(&mut self) -> &mut yawc::WebSocket<Unvectored<S>> {
        &mut self.inner
    }
}

/// The code and reason of a close frame the crate has checked.
fn close_of(frame: &Frame) -> Option<Close> {
    let code = frame.close_code()?;
    let reason = frame.close_reason().ok().flatten().unwrap_or("");
    Some(Close {
        code: code.into(),
        reason: reason.to_string(),
    })
}
