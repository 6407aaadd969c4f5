//! Request-mode replies (`--request`): one reply per request, checked to
//! be a non-empty line (or datagram, or message) that is not `ERR …`.
//! Stream replies are scanned as they arrive, never buffered whole, so the
//! reader's memory is one read buffer whatever the server sends.

use std::io;
use std::time::Instant;

use super::tally::Tally;
use super::transport::{Conn, Framing};

/// Longest reply the request mode accepts, without its line break: a longer
/// line (or message) is a `bad_reply` and the connection is dropped.
pub const MAX_REPLY: usize = 64 * 1024;

/// Bytes a stream reply reader takes from the socket per read.
const STREAM_READ: usize = 16 * 1024;

/// The first bytes and the length of a reply line seen so far: all the check
/// needs, so a line is never stored.
#[derive(Debug, Default, Clone, Copy)]
struct LineScan {
    len: usize,
    head: [u8; 3],
    last: u8,
}

impl LineScan {
    fn add(&mut self, bytes: &[u8]) {
        if let Some(&b) = bytes.last() {
            for (i, &h) in bytes.iter().take(3).enumerate() {
                if self.len + i < 3 {
                    self.head[self.len + i] = h;
                }
            }
            self.len += bytes.len();
            self.last = b;
        }
    }

    /// Not empty (a lone `\r` is empty) and not an `ERR` reply.
    fn good(&self) -> bool {
        let len = self.len - usize::from(self.len > 0 && self.last == b'\r');
        len > 0 && !(self.len >= 3 && &self.head == b"ERR")
    }
}

/// Whether one reply (a datagram or message, a trailing `\n` or `\r\n`
/// already stripped) is good: not empty and not starting with `ERR`.
pub fn good_reply(reply: &[u8]) -> bool {
    !reply.is_empty() && !reply.starts_with(b"ERR")
}

/// What [`ReplyReader::next`] took off the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Got {
    /// One reply of `bytes` bytes on the wire; `good` when it passed the check.
    Reply { bytes: usize, good: bool },
    /// The server closed the connection.
    Closed,
    /// A reply longer than [`MAX_REPLY`].
    TooLong,
}

/// Takes request-mode replies off one connection: lines on a stream (scanned
/// in place, a partial line carried over to the next read), one datagram or
/// message per reply otherwise. One buffer for the life of the worker.
pub struct ReplyReader {
    buf: Vec<u8>,
    /// Bytes read but not scanned yet: `buf[start..end]`.
    start: usize,
    end: usize,
    line: LineScan,
    /// `--greeting`: a new connection's first reply is read by `super::link::Link::open`.
    pub greeting: bool,
}

impl ReplyReader {
    pub fn new(framing: Framing, greeting: bool) -> ReplyReader {
        let size = match framing {
            Framing::Stream => STREAM_READ,
            // One byte more than the longest reply, so a longer one is seen.
            Framing::Message => MAX_REPLY + 1,
        };
        ReplyReader {
            buf: vec![0; size],
            start: 0,
            end: 0,
            line: LineScan::default(),
            greeting,
        }
    }

    /// Forgets the previous connection's bytes.
    pub fn reset(&mut self) {
        (self.start, self.end) = (0, 0);
        self.line = LineScan::default();
    }

    /// True when bytes of a reply nobody asked for are already here.
    pub fn pending(&self) -> bool {
        self.start < self.end || self.line.len > 0
    }

    /// The next reply. Cancel-safe: the state is updated only after a
    /// receive completes, so a timeout that drops this future loses nothing.
    pub async fn next<C: Conn>(&mut self, conn: &mut C) -> io::Result<Got> {
        if C::FRAMING == Framing::Message {
            let n = conn.recv(&mut self.buf).await?;
            if n > MAX_REPLY {
                return Ok(Got::TooLong);
            }
            let mut reply = &self.buf[..n];
            if let Some(r) = reply.strip_suffix(b"\n") {
                reply = r.strip_suffix(b"\r").unwrap_or(r);
            }
            return Ok(Got::Reply {
                bytes: n,
                good: good_reply(reply),
            });
        }
        loop {
            let unscanned = &self.buf[self.start..self.end];
            match unscanned.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    self.line.add(&unscanned[..i]);
                    self.start += i + 1;
                    let line = std::mem::take(&mut self.line);
                    if line.len > MAX_REPLY {
                        return Ok(Got::TooLong);
                    }
                    return Ok(Got::Reply {
                        bytes: line.len + 1,
                        good: line.good(),
                    });
                }
                None => {
                    self.line.add(unscanned);
                    (self.start, self.end) = (0, 0);
                    if self.line.len > MAX_REPLY {
                        return Ok(Got::TooLong);
                    }
                }
            }
            let n = conn.recv(&mut self.buf).await?;
            if n == 0 {
                return Ok(Got::Closed);
            }
            self.end = n;
        }
    }
}

/// Why an exchange failed. Counted in the tally's errors already; this
/// only says what to do with the connection.
#[derive(Debug, PartialEq, Eq)]
pub enum Broken {
    /// The connection is unusable: drop it and reconnect.
    Drop,
    /// A message transport timed out and resynchronised: go on.
    Continue,
}

/// Counts one request-mode reply (or why there is none); a good reply is a
/// measured message when `measured_from` is set.
pub fn take_reply(
    r: io::Result<Got>,
    measured_from: Option<Instant>,
    tally: &mut Tally,
) -> Result<(), Broken> {
    match r {
        Ok(Got::Reply { bytes, good: true }) => {
            if let Some(t0) = measured_from {
                tally.messages(t0.elapsed(), 1);
                tally.bytes += bytes as u64;
            }
            Ok(())
        }
        Ok(Got::Reply { good: false, .. }) => {
            tally.errors.bad_reply += 1;
            Ok(())
        }
        Ok(Got::TooLong) => {
            tally.errors.bad_reply += 1;
            Err(Broken::Drop)
        }
        Ok(Got::Closed) => {
            tally.errors.short_read += 1;
            Err(Broken::Drop)
        }
        Err(e) => {
            tally.errors.count_io(&e);
            Err(Broken::Drop)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    #[test]
    fn reply_lines_are_checked_without_storing_them() {
        let scan = |parts: &[&[u8]]| {
            let mut l = LineScan::default();
            for p in parts {
                l.add(p);
            }
            (l.len, l.good())
        };
        assert_eq!(scan(&[b"42"]), (2, true));
        assert_eq!(scan(&[b"E", b"R", b"", b"R 5 > 1"]), (9, false));
        assert_eq!(scan(&[b"ER", b"ROR-free"]), (10, false));
        assert_eq!(scan(&[b"ER"]), (2, true));
        assert_eq!(scan(&[]), (0, false));
        assert_eq!(scan(&[b"\r"]), (1, false));
        assert_eq!(scan(&[b"7\r"]), (2, true));
        assert!(good_reply(b"2026-11-25T15:10:03+00:00"));
        assert!(!good_reply(b""));
        assert!(!good_reply(b"ERR count 0 must be at least 1"));
    }

    /// A stream that hands out scripted chunks, then EOF.
    struct Script(VecDeque<Vec<u8>>);

    impl Conn for Script {
        const FRAMING: Framing = Framing::Stream;
        async fn send(&mut self, _: &[u8], _: usize) -> io::Result<()> {
            Ok(())
        }
        async fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let Some(chunk) = self.0.pop_front() else {
                return Ok(0);
            };
            buf[..chunk.len()].copy_from_slice(&chunk);
            Ok(chunk.len())
        }
        fn resync(&mut self) -> bool {
            false
        }
    }

    #[tokio::test]
    async fn stream_replies_split_on_newlines_across_reads() {
        let chunks: Vec<Vec<u8>> = vec![b"1\n2".to_vec(), b"3\nERR no\n\n".to_vec(), b"7".to_vec()];
        let mut conn = Script(chunks.into());
        let mut rx = ReplyReader::new(Framing::Stream, false);
        let reply = |bytes, good| Got::Reply { bytes, good };
        assert_eq!(rx.next(&mut conn).await.ok(), Some(reply(2, true)));
        assert!(rx.pending());
        assert_eq!(rx.next(&mut conn).await.ok(), Some(reply(3, true)));
        assert_eq!(rx.next(&mut conn).await.ok(), Some(reply(7, false)));
        assert_eq!(rx.next(&mut conn).await.ok(), Some(reply(1, false)));
        assert!(!rx.pending());
        assert_eq!(rx.next(&mut conn).await.ok(), Some(Got::Closed));
        assert!(rx.pending(), "the unfinished '7' is still held");
        rx.reset();
        assert!(!rx.pending());
    }

    #[tokio::test]
    async fn an_endless_reply_line_is_cut_off() {
        let chunk = vec![b'9'; 4096];
        let chunks: VecDeque<Vec<u8>> = std::iter::repeat_n(chunk, MAX_REPLY / 4096 + 2).collect();
        let mut conn = Script(chunks);
        let mut rx = ReplyReader::new(Framing::Stream, false);
        assert_eq!(rx.next(&mut conn).await.ok(), Some(Got::TooLong));
        assert!(rx.buf.len() <= STREAM_READ, "nothing grows");
    }
}
