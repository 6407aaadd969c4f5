//! Matching replies to the messages in flight: in order on a stream and in
//! request mode; by content for datagrams and WebSocket messages, so that a
//! lost one does not shift every later match.

use std::time::Instant;

use super::{OpenLoop, Received};
use crate::bench::reply::Got;
use crate::bench::transport::{Conn, Connector, Framing};

impl<K: Connector> OpenLoop<K> {
    pub(super) fn received(&mut self, r: Received) {
        let now = Instant::now();
        if let Received::Bytes(Ok(1..)) | Received::Reply(Ok(Got::Reply { .. })) = r
            && let Some(since) = self.link.first.take()
        {
            self.tally.first_byte(now - since);
        }
        let in_flight = self.inflight.len();
        match (r, <K::Conn as Conn>::FRAMING) {
            (Received::Reply(Ok(Got::Reply { bytes, good })), _) => {
                match self.inflight.pop_front() {
                    Some(s) if good => self.measure(&s, now, bytes),
                    Some(_) => self.tally.errors.bad_reply += 1,
                    None => {
                        // A reply to no request: the connection is out of step.
                        self.tally.errors.bad_reply += 1;
                        self.link.conn = None;
                    }
                }
            }
            (Received::Reply(Ok(Got::TooLong)), _) => {
                self.tally.errors.bad_reply += 1;
                self.broken(in_flight.saturating_sub(1));
            }
            (Received::Reply(Ok(Got::Closed)), _) | (Received::Bytes(Ok(0)), Framing::Stream) => {
                self.tally.errors.short_read += in_flight.max(1) as u64;
                self.broken(0);
            }
            (Received::Bytes(Err(e)) | Received::Reply(Err(e)), _) => {
                self.tally.errors.count_io(&e);
                self.broken(in_flight.saturating_sub(1));
            }
            (Received::Bytes(Ok(n)), Framing::Stream) => self.stream_bytes(n, now),
            (Received::Bytes(Ok(n)), Framing::Message) => self.datagram(n, now),
        }
    }

    /// Echo over a stream: cut the bytes into messages in order.
    fn stream_bytes(&mut self, n: usize, now: Instant) {
        let size = self.ctl.load.size;
        self.held += n;
        let mut off = 0;
        while self.held - off >= size {
            let Some(s) = self.inflight.pop_front() else {
                // Bytes nobody sent: the stream is out of step.
                self.tally.errors.mismatch += 1;
                self.link.conn = None;
                break;
            };
            if self.rbuf[off..off + size] == *self.pattern.batch(s.index, size) {
                self.measure(&s, now, 0);
            } else {
                self.tally.errors.mismatch += 1;
            }
            off += size;
        }
        self.rbuf.copy_within(off..self.held, 0);
        self.held -= off;
    }

    /// Echo over datagrams or messages: a lost one must not shift every
    /// later match, so look for the message this reply echoes and count the
    /// ones before it as lost.
    fn datagram(&mut self, n: usize, now: Instant) {
        let size = self.ctl.load.size;
        let reply = &self.rbuf[..n];
        let found = (n == size)
            .then(|| {
                self.inflight
                    .iter()
                    .position(|s| reply == self.pattern.batch(s.index, size))
            })
            .flatten();
        match found {
            Some(pos) => {
                self.tally.errors.timeout += pos as u64;
                self.inflight.drain(..pos);
                if let Some(s) = self.inflight.pop_front() {
                    self.measure(&s, now, 0);
                }
            }
            None => {
                self.tally.errors.mismatch += 1;
                self.inflight.pop_front();
            }
        }
    }
}
