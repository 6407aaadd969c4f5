//! What the workers count: messages, bytes, errors by kind and the latency
//! histograms, per worker and then merged per target and in total.

use std::io;
use std::time::Duration;

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
}

impl Tally {
    pub fn new() -> Tally {
        Tally::default()
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
        record_n(&mut self.hists.rtt, latency.as_nanos() as u64, n);
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
}
