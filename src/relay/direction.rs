//! One direction of a relay: from the source side to the sink side, as a
//! state machine polled by the relay's task.
//!
//! A direction holds at most one piece of data the sink has not taken yet
//! (a remainder of one read, or one message) and reads nothing more until
//! the sink has taken it: that is the backpressure, and it bounds memory to
//! one buffer per direction. While it waits for data it holds nothing at
//! all: reads go into the worker thread's [`SCRATCH`] buffer for the
//! duration of one poll, and only what the sink does not take at once is
//! copied out. An idle relay costs its sockets and its task, no buffers.

use std::cell::RefCell;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Bytes, BytesMut};
use tokio::io::ReadBuf;

use super::side::{ByteStream, Message, Side};

thread_local! {
    /// This worker thread's read buffer, lent to one direction for the
    /// duration of one poll (never across an `.await`).
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The largest datagram there is: a message peer's reads into the scratch
/// buffer need room for one whatever the relay's buffer size.
pub const MAX_DATAGRAM: usize = 65_536;

/// Runs `f` with this thread's scratch buffer, at least `len` bytes long
/// (and at least [`MAX_DATAGRAM`]). `f` must not wait: the buffer is
/// lent for one poll.
pub fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [u8]) -> R) -> R {
    SCRATCH.with_borrow_mut(|scratch| {
        if scratch.len() < len.max(MAX_DATAGRAM) {
            scratch.resize(len.max(MAX_DATAGRAM), 0);
        }
        f(&mut scratch[..])
    })
}

/// Which end of a direction failed.
#[derive(Debug)]
pub enum Fault {
    /// Reading from the source.
    Source(io::Error),
    /// Writing to (or closing) the sink.
    Sink(io::Error),
}

/// Data read and not yet taken by the sink.
enum Held {
    Nothing,
    /// Bytes for a stream sink, from `at` on; `newline`: `--lines` adds a
    /// line break after them.
    Bytes {
        data: Bytes,
        at: usize,
        newline: bool,
    },
    /// One message for a message sink.
    Message(Message),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    /// The source has ended; the sink is being closed once everything
    /// held is delivered.
    Closing,
    Done,
}

/// One direction of a relay, and what it moved.
pub struct Direction {
    held: Held,
    /// Stream to messages, `--lines`: bytes read that are not yet a whole
    /// line (at most the buffer size); `--text`: the start of a character
    /// that the next read completes (at most 3 bytes).
    partial: BytesMut,
    /// `--lines`: a line is a message, and a message is written as a line.
    lines: bool,
    /// `--text`: messages made of bytes go out as text when they are UTF-8.
    text: bool,
    /// Bytes read at once: the buffer size, or less when the sink's
    /// messages cannot be that large (UDP).
    chunk: usize,
    /// Something was written to the sink since it was last flushed.
    unflushed: bool,
    state: State,
    /// Payload bytes read from the source, and given to the sink.
    pub read: u64,
    pub written: u64,
}

impl Direction {
    /// A direction toward `sink`, reading at most `buffer` bytes at once;
    /// `lines` and `text` as the relay's settings say.
    pub fn new(buffer: usize, lines: bool, text: bool, sink: &Side) -> Direction {
        let chunk = match sink {
            Side::Bytes(_) => buffer,
            Side::Messages(m) => buffer.min(m.max_message()),
        };
        Direction {
            held: Held::Nothing,
            partial: BytesMut::new(),
            lines,
            text,
            chunk: chunk.max(1),
            unflushed: false,
            state: State::Open,
            read: 0,
            written: 0,
        }
    }

    /// The source ended and the sink was closed.
    pub fn done(&self) -> bool {
        self.state == State::Done
    }

    /// The source has ended (the sink may still be closing).
    pub fn source_ended(&self) -> bool {
        self.state != State::Open
    }

    /// Moves data once: delivers what is held, else reads and delivers.
    /// `Ready(Ok(()))` when anything happened, `Pending` when both ends
    /// must be waited for.
    pub fn poll_step(
        &mut self,
        cx: &mut Context<'_>,
        source: &mut Side,
        sink: &mut Side,
    ) -> Poll<Result<(), Fault>> {
        if self.state == State::Done {
            return Poll::Pending;
        }
        let mut moved = false;
        if !matches!(self.held, Held::Nothing) {
            match self.poll_deliver(cx, sink) {
                Poll::Ready(Ok(())) => moved = true,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(Fault::Sink(e))),
                Poll::Pending => return Poll::Pending,
            }
        }
        if self.next_line(false) {
            return Poll::Ready(Ok(()));
        }
        if self.state == State::Closing {
            if !self.partial.is_empty() && self.next_line(true) {
                return Poll::Ready(Ok(()));
            }
            ready!(poll_close(cx, sink)).map_err(Fault::Sink)?;
            self.state = State::Done;
            return Poll::Ready(Ok(()));
        }
        match self.poll_fill(cx, source, sink) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(())),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                if self.unflushed {
                    match poll_flush(cx, sink) {
                        Poll::Ready(Ok(())) => self.unflushed = false,
                        Poll::Ready(Err(e)) => return Poll::Ready(Err(Fault::Sink(e))),
                        Poll::Pending => {}
                    }
                }
                if moved {
                    Poll::Ready(Ok(()))
                } else {
                    Poll::Pending
                }
            }
        }
    }

    /// Winding down (shutdown, idle, the other side failed): delivers what
    /// is held, then closes the sink.
    pub fn poll_wind_down(
        &mut self,
        cx: &mut Context<'_>,
        sink: &mut Side,
    ) -> Poll<io::Result<()>> {
        if self.state == State::Done {
            return Poll::Ready(Ok(()));
        }
        while !matches!(self.held, Held::Nothing) {
            ready!(self.poll_deliver(cx, sink))?;
        }
        ready!(poll_close(cx, sink))?;
        self.state = State::Done;
        Poll::Ready(Ok(()))
    }

    /// Stream to messages: takes the next message out of `partial`, true
    /// if it did. `--lines`: the next whole line (or, with `all`, whatever
    /// is left; or a full buffer's worth without a line break). `--text`:
    /// all but the start of a character cut by the read (with `all`, that
    /// too).
    fn next_line(&mut self, all: bool) -> bool {
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
    fn poll_fill(
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

    /// Gives what is held to the sink, all of it or `Pending`.
    fn poll_deliver(&mut self, cx: &mut Context<'_>, sink: &mut Side) -> Poll<io::Result<()>> {
        match sink {
            Side::Bytes(out) => {
                let Held::Bytes { data, at, newline } = &mut self.held else {
                    return Poll::Ready(Err(wrong_sink()));
                };
                while *at < data.len() {
                    let n = ready!(Pin::new(&mut **out).poll_write(cx, &data[*at..]))?;
                    if n == 0 {
                        return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                    }
                    *at += n;
                    self.written += n as u64;
                    self.unflushed = true;
                }
                if *newline {
                    let n = ready!(Pin::new(&mut **out).poll_write(cx, b"\n"))?;
                    if n == 0 {
                        return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                    }
                }
            }
            Side::Messages(peer) => {
                if !matches!(self.held, Held::Message(_)) {
                    return Poll::Ready(Err(wrong_sink()));
                }
                ready!(peer.poll_ready(cx))?;
                if let Held::Message(m) = std::mem::replace(&mut self.held, Held::Nothing) {
                    self.written += m.len() as u64;
                    peer.start_send(m)?;
                    self.unflushed = true;
                }
            }
        }
        self.held = Held::Nothing;
        Poll::Ready(Ok(()))
    }
}

/// A stream's bytes always become a message for a message sink, and a
/// message's payload bytes for a stream sink: anything else is a bug.
fn wrong_sink() -> io::Error {
    io::Error::other("relay: data held for the wrong kind of sink")
}

fn poll_flush(cx: &mut Context<'_>, sink: &mut Side) -> Poll<io::Result<()>> {
    match sink {
        Side::Bytes(out) => Pin::new(&mut **out).poll_flush(cx),
        Side::Messages(peer) => peer.poll_flush(cx),
    }
}

/// Ends the sink's sending side: a half-close (FIN; over TLS a
/// close_notify first), or the message peer's close. A stream whose peer
/// has already gone cannot be half-closed, and needs no more.
fn poll_close(cx: &mut Context<'_>, sink: &mut Side) -> Poll<io::Result<()>> {
    let r = match sink {
        Side::Bytes(out) => ready!(Pin::new(&mut **out).poll_shutdown(cx)),
        Side::Messages(peer) => ready!(peer.poll_close(cx)),
    };
    Poll::Ready(match r {
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
        r => r,
    })
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;
    use std::sync::{Arc, Mutex};

    use tokio::io::AsyncWriteExt;

    use super::*;
    use crate::relay::side::MessagePeer;

    /// A message sink that keeps what it is given.
    struct Kept(Arc<Mutex<Vec<Message>>>);

    impl MessagePeer for Kept {
        fn poll_recv(&mut self, _: &mut Context<'_>) -> Poll<io::Result<Option<Message>>> {
            Poll::Pending
        }
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn start_send(&mut self, message: Message) -> io::Result<()> {
            self.0.lock().expect("lock").push(message);
            Ok(())
        }
        fn poll_flush(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_close(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn max_message(&self) -> usize {
            1 << 20
        }
        fn ends(&self) -> bool {
            true
        }
    }

    /// What `--text` makes of `writes` to a stream, each read on its own.
    async fn text_messages(writes: &[&[u8]]) -> Vec<Message> {
        let kept = Arc::new(Mutex::new(Vec::new()));
        let (mut writer, reader) = tokio::io::duplex(64);
        let mut source = Side::Bytes(Box::new(reader));
        let mut sink = Side::Messages(Box::new(Kept(kept.clone())));
        let mut d = Direction::new(16 * 1024, false, true, &sink);
        for w in writes {
            writer.write_all(w).await.expect("write");
            // One read, and the delivery of what it made.
            for _ in 0..2 {
                let _ = poll_fn(|cx| Poll::Ready(d.poll_step(cx, &mut source, &mut sink))).await;
            }
        }
        drop(writer);
        while !d.done() {
            poll_fn(|cx| d.poll_step(cx, &mut source, &mut sink))
                .await
                .map_err(|_| "fault")
                .expect("no fault");
        }
        kept.lock().expect("lock").clone()
    }

    #[tokio::test]
    async fn text_keeps_a_character_cut_by_a_read_for_the_next_message() {
        let got = text_messages(&[b"h\xc3", b"\xa9llo"]).await;
        assert_eq!(
            got,
            [
                Message::Text(Bytes::from_static(b"h")),
                Message::Text(Bytes::from_static("éllo".as_bytes())),
            ]
        );
    }

    #[tokio::test]
    async fn text_sends_bytes_that_are_not_utf8_as_binary() {
        let got = text_messages(&[b"ok", b"\xff\xfe", b"\xe2\x82"]).await;
        assert_eq!(
            got,
            [
                Message::Text(Bytes::from_static(b"ok")),
                Message::Binary(Bytes::from_static(b"\xff\xfe")),
                // A character cut by the end of the stream.
                Message::Binary(Bytes::from_static(b"\xe2\x82")),
            ]
        );
    }
}
