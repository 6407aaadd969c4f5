//! One direction of a relay: from the source side to the sink side, as a
//! state machine polled by the relay's task.
//!
//! A direction holds at most one piece of data the sink has not taken yet
//! (a remainder of one read, or one message) and reads nothing more until
//! the sink has taken it: that is the backpressure, and it bounds memory to
//! one buffer per direction. While it waits for data it holds nothing at
//! all: reads go into the worker thread's scratch buffer (`scratch.rs`)
//! for the duration of one poll, and only what the sink does not take at
//! once is copied out. An idle relay costs its sockets and its task, no buffers.
//!
//! ```text
//! mod.rs    Direction: its states, one step, winding down
//! read.rs   taking from the source: a read, a message, a line
//! write.rs  giving what is held to the sink
//! tests.rs  --text over a stream cut between reads
//! ```

mod read;
mod write;

#[cfg(test)]
mod tests;

use std::io;
use std::task::{Context, Poll, ready};

use bytes::{Bytes, BytesMut};

use super::side::{Message, Side};

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
            ready!(sink.poll_close(cx)).map_err(Fault::Sink)?;
            self.state = State::Done;
            return Poll::Ready(Ok(()));
        }
        match self.poll_fill(cx, source, sink) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(())),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                if self.unflushed {
                    match sink.poll_flush(cx) {
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
        ready!(sink.poll_close(cx))?;
        self.state = State::Done;
        Poll::Ready(Ok(()))
    }
}
