//! What the workers count: messages, bytes, errors by kind and the latency
//! histograms, per worker and then merged per target and in total.

use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::histogram::{Hists, record_n};

/// Error counts by kind. Each kind is a different failure of the server or
/// the network, so they are never lumped together.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Errors {
    /// A reply of the right length whose bytes differ from what was sent
    /// (or a datagram of the wrong length).
    pub mismatch: u64,
    /// The server closed the connection before the whole reply arrived.
    pub short_read: u64,
    /// Connection reset or aborted, or a broken pipe while sending.
    pub reset: u64,
    /// Any other I/O error on an open connection.
    pub io: u64,
    /// No reply within `--timeout` (for UDP: a lost datagram).
    pub timeout: u64,
    /// Opening a connection failed or took longer than `--timeout`.
    pub connect: u64,
    /// `--request`: a reply (or greeting) that is empty, starts with `ERR`
    /// or is a line longer than the bench accepts.
    pub bad_reply: u64,
}

impl Errors {
    pub fn total(&self) -> u64 {
        self.pairs().iter().map(|(_, n)| n).sum()
    }

    pub fn add(&mut self, o: &Errors) {
        self.mismatch += o.mismatch;
        self.short_read += o.short_read;
        self.reset += o.reset;
        self.io += o.io;
        self.timeout += o.timeout;
        self.connect += o.connect;
        self.bad_reply += o.bad_reply;
    }

    /// Counts an I/O error on an open connection under its kind.
    pub fn count_io(&mut self, e: &io::Error) {
        match e.kind() {
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe => self.reset += 1,
            io::ErrorKind::UnexpectedEof => self.short_read += 1,
            io::ErrorKind::TimedOut => self.timeout += 1,
            _ => self.io += 1,
        }
    }

    pub fn pairs(&self) -> [(&'static str, u64); 7] {
        [
            ("mismatch", self.mismatch),
            ("short_read", self.short_read),
            ("reset", self.reset),
            ("io", self.io),
            ("timeout", self.timeout),
            ("connect", self.connect),
            ("bad_reply", self.bad_reply),
        ]
    }
}

/// A round-trip histogram shared by the workers of one target.
pub type Sink = Arc<Mutex<Option<Histogram<u64>>>>;

/// Locks a sink; a worker that panicked while holding it left a histogram
/// that is still a histogram.
pub fn lock(sink: &Sink) -> MutexGuard<'_, Option<Histogram<u64>>> {
    sink.lock().unwrap_or_else(|p| p.into_inner())
}

/// Round trips not yet added to the shared histogram: 50 workers each
/// recording into a histogram of their own touch a few MB of counters at
/// random, which cost the bench a cache and TLB miss per message (a tenth
/// of its CPU); one shared histogram, updated 64 samples at a time, stays
/// in cache.
#[derive(Debug)]
struct Batch {
    samples: Vec<(u64, u64)>,
    sink: Sink,
}

const BATCH: usize = 64;

impl Batch {
    fn flush(&mut self) {
        if self.samples.is_empty() {
            return;
        }
        let mut h = lock(&self.sink);
        for (ns, n) in self.samples.drain(..) {
            record_n(&mut h, ns, n);
        }
    }
}

impl Clone for Batch {
    fn clone(&self) -> Batch {
        Batch {
            samples: Vec::with_capacity(BATCH),
            sink: self.sink.clone(),
        }
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        self.flush();
    }
}

/// What one worker (connection slot), one target or the whole run measured.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// Verified messages (or good replies) in the measured window.
    pub messages: u64,
    /// `--request`: bytes of the measured replies (line breaks included).
    pub bytes: u64,
    pub errors: Errors,
    /// Connections opened (setup, ramp-up, churn and reconnects included;
    /// `--connect-rate`: those of the measured window).
    pub connects: u64,
    pub hists: Hists,
    /// Set for workers: round trips go to a shared histogram instead of
    /// `hists.rtt`.
    batch: Option<Batch>,
}

impl Tally {
    pub fn new() -> Tally {
        Tally::default()
    }

    /// A worker's tally, whose round trips go to `sink`.
    pub fn with_sink(sink: Sink) -> Tally {
        Tally {
            batch: Some(Batch {
                samples: Vec::with_capacity(BATCH),
                sink,
            }),
            ..Tally::default()
        }
    }

    /// Adds the round trips still waiting to the shared histogram.
    pub fn flush(&mut self) {
        if let Some(b) = &mut self.batch {
            b.flush();
        }
    }

    pub fn merge(&mut self, o: &Tally) {
        self.messages += o.messages;
        self.bytes += o.bytes;
        self.errors.add(&o.errors);
        self.connects += o.connects;
        self.hists.merge(&o.hists);
    }

    /// `n` verified messages that completed with the same round trip (one
    /// read brought all their replies): one histogram update.
    #[inline]
    pub fn messages(&mut self, latency: Duration, n: u64) {
        self.messages += n;
        let ns = latency.as_nanos() as u64;
        match &mut self.batch {
            Some(b) => {
                b.samples.push((ns, n));
                if b.samples.len() == BATCH {
                    b.flush();
                }
            }
            None => record_n(&mut self.hists.rtt, ns, n),
        }
    }

    /// A connection opened after `latency` (handshake included).
    pub fn connected(&mut self, latency: Duration) {
        self.connects += 1;
        record_n(&mut self.hists.connect, latency.as_nanos() as u64, 1);
    }

    /// The first reply byte of a new connection, `latency` after its
    /// connect began.
    pub fn first_byte(&mut self, latency: Duration) {
        record_n(&mut self.hists.first_byte, latency.as_nanos() as u64, 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_are_classified() {
        let mut e = Errors::default();
        e.count_io(&io::Error::from(io::ErrorKind::ConnectionReset));
        e.count_io(&io::Error::from(io::ErrorKind::BrokenPipe));
        e.count_io(&io::Error::from(io::ErrorKind::UnexpectedEof));
        e.count_io(&io::Error::from(io::ErrorKind::PermissionDenied));
        assert_eq!((e.reset, e.short_read, e.io, e.total()), (2, 1, 1, 4));
    }

    #[test]
    fn round_trips_reach_the_shared_histogram_whole() {
        let sink = Sink::default();
        let mut a = Tally::with_sink(sink.clone());
        let b = Tally::with_sink(sink.clone());
        for _ in 0..100 {
            a.messages(Duration::from_micros(30), 2);
        }
        let mut c = b.clone();
        c.messages(Duration::from_micros(40), 1);
        a.flush();
        drop(c);
        let total = lock(&sink).as_ref().map(|h| h.len());
        assert_eq!(total, Some(201));
        assert_eq!(a.messages, 200);
        assert!(a.hists.rtt.is_none());
    }
}
