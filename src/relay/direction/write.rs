//! Giving what a direction holds to the sink, all of it or nothing yet:
//! the sink that does not take it holds the direction back (backpressure).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use super::{Direction, Held};
use crate::relay::side::Side;

impl Direction {
    /// Gives what is held to the sink, all of it or `Pending`.
    pub(super) fn poll_deliver(
        &mut self,
        cx: &mut Context<'_>,
        sink: &mut Side,
    ) -> Poll<io::Result<()>> {
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
                    if peer.sends() {
                        self.written += m.len() as u64;
                    }
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
