//! Taking from the source: one read of a stream (straight on to a stream
//! sink when it takes it), one message of a message peer, or (stream to
//! messages) the next line or the next whole characters of what was read.
//! Only what the sink does not take at once is kept, in [`Held`].

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Bytes, BytesMut};
use tokio::io::ReadBuf;

use super::{Direction, Fault, Held, State};
use crate::relay::scratch::with_scratch;
use crate::relay::side::{ByteStream, Message, Side};

impl Direction {
    /// Stream to messages: takes the next message out of `partial`, true
    /// if it did. `--lines`: the next whole line (or, with `all`, whatever
    /// is left; or a full buffer's worth without a line break). `--text`:
    /// all but the start of a character cut by the read (with `all`, that
    /// too).
    pub(super) fn next_line(&mut self, all: bool) -> bool {
        if !matches!(self.held, Held::Nothing) || self.partial.is_empty() {
            return false;
        }
        let end = if self.lines {
            match self.partial.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1).min(self.chunk),
                None if all || self.partial.len() >= self.chunk => self.partial.len(),
                None => return false,
            }
        } else {
            match std::str::from_utf8(&self.partial) {
                Err(e) if !all && e.error_len().is_none() && e.valid_up_to() > 0 => e.valid_up_to(),
                Err(e) if !all && e.error_len().is_none() => return false,
                _ => self.partial.len(),
            }
        };
        let line = self.partial.split_to(end).freeze();
        if self.partial.is_empty() {
            // No buffer is kept between lines.
            self.partial = BytesMut::new();
        }
        self.held = Held::Message(self.typed(line));
        true
    }

    /// Bytes from a stream or a datagram as a message: binary, or with
    /// `--text` text when they are UTF-8 (a text message must be).
    fn typed(&self, data: Bytes) -> Message {
        if self.text && std::str::from_utf8(&data).is_ok() {
            Message::Text(data)
        } else {
            Message::Binary(data)
        }
    }

    /// Reads from the source (only when nothing is held) and delivers as
    /// much as the sink takes at once.
    pub(super) fn poll_fill(
        &mut self,
        cx: &mut Context<'_>,
        source: &mut Side,
        sink: &mut Side,
    ) -> Poll<Result<(), Fault>> {
        match source {
            Side::Bytes(stream) => self.poll_fill_bytes(cx, stream.as_mut(), sink),
            Side::Messages(peer) => {
                let message = match ready!(peer.poll_recv(cx)) {
                    Ok(Some(m)) => m,
                    Ok(None) => {
                        self.state = State::Closing;
                        return Poll::Ready(Ok(()));
                    }
                    Err(e) => return Poll::Ready(Err(Fault::Source(e))),
                };
                self.read += message.len() as u64;
                self.held = match (message, &*sink) {
                    (Message::Close(c), Side::Messages(_)) => {
                        self.state = State::Closing;
                        Held::Message(Message::Close(c))
                    }
                    (Message::Close(_), Side::Bytes(_)) => {
                        self.state = State::Closing;
                        Held::Nothing
                    }
                    (Message::Binary(data), Side::Messages(_)) => Held::Message(self.typed(data)),
                    (m @ Message::Text(_), Side::Messages(_)) => Held::Message(m),
                    (Message::Text(data) | Message::Binary(data), Side::Bytes(_)) => {
                        let newline = self.lines && !data.ends_with(b"\n");
                        Held::Bytes {
                            data,
                            at: 0,
                            newline,
                        }
                    }
                };
                Poll::Ready(Ok(()))
            }
        }
    }

    /// A read from a byte stream into the thread's scratch buffer; a
    /// stream sink gets it straight from there.
    fn poll_fill_bytes(
        &mut self,
        cx: &mut Context<'_>,
        stream: &mut dyn ByteStream,
        sink: &mut Side,
    ) -> Poll<Result<(), Fault>> {
        let cut = self.lines || self.text;
        let chunk = match sink {
            Side::Messages(_) if cut => self.chunk.saturating_sub(self.partial.len()),
            _ => self.chunk,
        }
        .max(1);
        with_scratch(chunk, |scratch| {
            let mut buf = ReadBuf::new(&mut scratch[..chunk]);
            match ready!(Pin::new(&mut *stream).poll_read(cx, &mut buf)) {
                Ok(()) => {}
                // A TLS peer that closes without close_notify has closed
                // all the same (browsers and curl do); so do relays.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {}
                Err(e) => return Poll::Ready(Err(Fault::Source(e))),
            }
            let data = buf.filled();
            if data.is_empty() {
                self.state = State::Closing;
                return Poll::Ready(Ok(()));
            }
            self.read += data.len() as u64;
            match sink {
                Side::Bytes(out) => {
                    let mut at = 0;
                    while at < data.len() {
                        match Pin::new(&mut **out).poll_write(cx, &data[at..]) {
                            Poll::Ready(Ok(0)) => {
                                return Poll::Ready(Err(Fault::Sink(
                                    io::ErrorKind::WriteZero.into(),
                                )));
                            }
                            Poll::Ready(Ok(n)) => at += n,
                            Poll::Ready(Err(e)) => return Poll::Ready(Err(Fault::Sink(e))),
                            Poll::Pending => break,
                        }
                    }
                    self.written += at as u64;
                    self.unflushed = true;
                    if at < data.len() {
                        self.held = Held::Bytes {
                            data: Bytes::copy_from_slice(&data[at..]),
                            at: 0,
                            newline: false,
                        };
                    } else if let Poll::Ready(Ok(())) = Pin::new(&mut **out).poll_flush(cx) {
                        // TCP and Unix flush at once; TLS may hold a record.
                        self.unflushed = false;
                    }
                }
                Side::Messages(_) if cut => {
                    self.partial.extend_from_slice(data);
                    self.next_line(false);
                }
                Side::Messages(_) => {
                    self.held = Held::Message(Message::Binary(Bytes::copy_from_slice(data)));
                }
            }
            Poll::Ready(Ok(()))
        })
    }
}
