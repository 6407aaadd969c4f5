//! WebSocket as a message peer: a client of a bridge's `ws://` FROM, or a
//! `ws://` upstream, polled frame by frame on the project's one WebSocket
//! stack ([`crate::websocket`]).
//!
//! A close is one frame each way, never two, whoever starts:
//!
//! * the peer closes: the crate queues the answer (its code echoed), which
//!   goes out at once; the close is handed on ([`Message::Close`]: a
//!   WebSocket on the other side gets the same code), and anything the
//!   relay still gives this peer is dropped, as RFC 6455 wants nothing
//!   after a close;
//! * the other side ends: [`MessagePeer::poll_close`] sends close 1000 (or
//!   the code the session ends with, see [`MessagePeer::closing`]) and the
//!   peer's answer ends its direction, or [`ANSWER_WAIT`] without one.
//!
//! A message that breaks the protocol or a limit (`--max-message`) ends the
//! session with the close code RFC 6455 assigns (1002, 1007, 1009), sent
//! as the error is reported.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use futures_util::Sink;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Sleep;
use yawc::close::CloseCode;
use yawc::{Frame, OpCode};

use super::side::{Message, MessagePeer};
use crate::websocket::{Close, Error, Unvectored, WebSocket};

/// How long a peer may take to answer the close frame sent to it.
pub const ANSWER_WAIT: Duration = Duration::from_secs(2);

/// One WebSocket connection, open, as a relay's message peer.
pub struct WsPeer<S> {
    ws: WebSocket<S>,
    max_message: usize,
    /// A close frame went out (or the crate queued its answer to the
    /// peer's): no other may, and no data after it.
    close_sent: bool,
    /// The peer's close frame came: nothing more will.
    close_received: bool,
    /// The close sent when the session ends early (shutdown: 1001).
    closing: Option<Close>,
    /// Running from the close frame sent until the peer's answer.
    answer: Option<Pin<Box<Sleep>>>,
}

impl<S> WsPeer<S> {
    /// `ws` after its opening handshake; messages up to `max_message`
    /// bytes (what the socket's configuration accepts).
    pub fn new(ws: WebSocket<S>, max_message: usize) -> WsPeer<S> {
        WsPeer {
            ws,
            max_message,
            close_sent: false,
            close_received: false,
            closing: None,
            answer: None,
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> WsPeer<S> {
    fn sink(&mut self) -> Pin<&mut yawc::WebSocket<Unvectored<S>>> {
        Pin::new(self.ws.frames())
    }

    /// Puts a close frame out (once), and starts waiting for the answer.
    fn send_close(&mut self, close: Option<&Close>) -> io::Result<()> {
        let frame = match close {
            Some(c) => Frame::close(CloseCode::from(c.code), c.reason.as_bytes()),
            None => Frame::from((OpCode::Close, bytes::Bytes::new())),
        };
        self.close_sent = true;
        self.answer = Some(Box::pin(tokio::time::sleep(ANSWER_WAIT)));
        self.sink().start_send(frame).map_err(io_error)
    }

    /// The peer broke the protocol or a limit: tells it why with the code
    /// RFC 6455 assigns, as far as that can go out without waiting.
    fn fail(&mut self, e: &Error, cx: &mut Context<'_>) {
        let (code, reason) = match e {
            Error::TooBig => (1009, "message too big"),
            Error::Utf8 => (1007, "invalid UTF-8"),
            Error::Protocol(_) => (1002, "protocol error"),
            Error::Closed | Error::Io(_) => return,
        };
        if self.close_sent {
            return;
        }
        // The crate has queued a close of its own for the errors of its
        // frame layer; a read writes it and reports the end at once.
        if let Poll::Ready(Err(yawc::WebSocketError::ConnectionClosed)) =
            self.ws.frames().poll_next_frame(cx)
        {
            self.close_sent = true;
            return;
        }
        if let Poll::Ready(Ok(())) = self.sink().poll_ready(cx)
            && self.send_close(Some(&Close::new(code, reason))).is_ok()
        {
            let _ = self.sink().poll_flush(cx);
        }
    }
}

/// A WebSocket error as the relay reports it; the [`Error`] stays inside
/// for whoever counts limits.
fn io_error(e: yawc::WebSocketError) -> io::Error {
    socket_error(Error::from(e))
}

fn socket_error(e: Error) -> io::Error {
    match e {
        Error::Io(e) => e,
        Error::Closed => io::ErrorKind::UnexpectedEof.into(),
        other => io::Error::new(io::ErrorKind::InvalidData, other),
    }
}

/// The code and reason of a close frame the crate has checked.
fn close_of(frame: &Frame) -> Option<(u16, String)> {
    let code = frame.close_code()?;
    let reason = frame.close_reason().ok().flatten().unwrap_or("");
    Some((code.into(), reason.to_string()))
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> MessagePeer for WsPeer<S> {
    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<Message>>> {
        if self.close_received {
            return Poll::Ready(Ok(None));
        }
        if let Some(answer) = &mut self.answer
            && answer.as_mut().poll(cx).is_ready()
        {
            // No answer to our close: the peer is gone all the same.
            self.close_received = true;
            return Poll::Ready(Ok(None));
        }
        loop {
            let frame = match ready!(self.ws.frames().poll_next_frame(cx)) {
                Ok(f) => f,
                Err(e) => {
                    let e = Error::from(e);
                    if matches!(e, Error::Closed) {
                        self.close_received = true;
                        return Poll::Ready(Ok(None));
                    }
                    self.fail(&e, cx);
                    return Poll::Ready(Err(socket_error(e)));
                }
            };
            return Poll::Ready(Ok(Some(match frame.opcode() {
                OpCode::Text => Message::Text(frame.into_payload()),
                OpCode::Binary => Message::Binary(frame.into_payload()),
                OpCode::Close => {
                    self.close_received = true;
                    if self.close_sent {
                        // The answer to ours: this direction is over.
                        return Poll::Ready(Ok(None));
                    }
                    // The crate queued the answer; out with it now (the
                    // relay's close of this side finishes it otherwise).
                    self.close_sent = true;
                    if let Poll::Ready(Ok(())) = self.sink().poll_ready(cx) {
                        let _ = self.sink().poll_flush(cx);
                    }
                    Message::Close(close_of(&frame))
                }
                // Pings are answered by the crate, fragments reassembled.
                OpCode::Ping | OpCode::Pong | OpCode::Continuation => continue,
            })));
        }
    }

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.close_sent {
            return Poll::Ready(Ok(()));
        }
        self.sink().poll_ready(cx).map_err(io_error)
    }

    fn start_send(&mut self, message: Message) -> io::Result<()> {
        if self.close_sent {
            // Nothing goes after a close.
            return Ok(());
        }
        let frame = match message {
            Message::Text(b) => Frame::text(b),
            Message::Binary(b) => Frame::binary(b),
            Message::Close(c) => {
                let close = c.map(|(code, reason)| Close::new(code, &reason));
                return self.send_close(close.as_ref());
            }
        };
        self.sink().start_send(frame).map_err(io_error)
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.close_received && self.close_sent {
            return Poll::Ready(Ok(()));
        }
        self.sink().poll_flush(cx).map_err(io_error)
    }

    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.close_sent {
            ready!(self.sink().poll_ready(cx)).map_err(io_error)?;
            let close = self.closing.take().unwrap_or_else(|| Close::new(1000, ""));
            self.send_close(Some(&close))?;
        }
        // Also what pushes out the crate's answer to the peer's close.
        ready!(self.sink().poll_ready(cx)).map_err(io_error)?;
        self.sink().poll_flush(cx).map_err(io_error)
    }

    fn max_message(&self) -> usize {
        self.max_message
    }

    fn ends(&self) -> bool {
        true
    }

    fn closed(&self) -> bool {
        self.close_received
    }

    fn sends(&self) -> bool {
        !self.close_sent
    }

    fn closing(&mut self, code: u16, reason: &str) {
        self.closing = Some(Close::new(code, reason));
    }
}
