//! The terminal side of `duplex connect`: stdin read as bounded lines (for
//! the message transports), stdout written record by record, and a closed
//! stdout told apart from a network failure.

use std::io::Write;

use tokio::io::{AsyncBufReadExt, BufReader, Stdin};

use super::session::ConnectError;

/// True when `e` says that nobody reads stdout any more (`| head -2`
/// exited): the session then ends quietly, as other Unix tools do.
pub fn stdout_gone(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::BrokenPipe
}

/// An error writing stdout that is not a closed pipe (a full disk): said
/// as such, never blamed on the network.
pub fn stdout_error(e: std::io::Error) -> anyhow::Error {
    ConnectError(format!("cannot write to stdout: {e}")).into()
}

/// Reading stdin failed.
pub fn stdin_error(e: std::io::Error) -> anyhow::Error {
    ConnectError(format!("cannot read stdin: {e}")).into()
}

/// Writes one datagram or message to stdout, adding `\n` unless it ends
/// with one, and flushes it.
///
/// A plain blocking write through std's line-buffered stdout: one system
/// call per record and no hop to a blocking thread, which keeps up with a
/// server sending small messages as fast as it can (`random 100000`). A
/// write that blocks is the backpressure wanted: the session waits for
/// its reader.
pub fn write_record(data: &[u8]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(data)?;
    if !data.ends_with(b"\n") {
        out.write_all(b"\n")?;
    }
    out.flush()
}

/// What [`Lines::next`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// A line is in [`Lines::line`], with its `\n` (or `\r\n`) unless it
    /// was the last one and unterminated.
    Complete,
    /// A line longer than the limit (this many bytes, with its line break)
    /// was read and dropped.
    TooLong(usize),
    /// Stdin ended.
    Eof,
}

/// Stdin as lines of at most `max` bytes: a longer line is counted and
/// dropped, never buffered whole.
///
/// [`Lines::next`] is cancel-safe: a read interrupted by another branch of
/// a `select!` keeps what it read, and the next call goes on from there.
pub struct Lines {
    reader: BufReader<Stdin>,
    line: Vec<u8>,
    max: usize,
    /// Bytes of the current line so far, kept or not.
    len: usize,
    /// The last call returned a line: the next one starts a new line.
    returned: bool,
}

impl Lines {
    pub fn new(max: usize) -> Lines {
        Lines {
            reader: BufReader::new(tokio::io::stdin()),
            line: Vec::new(),
            max,
            len: 0,
            returned: false,
        }
    }

    /// The line found by the last [`Lines::next`], with its line break.
    pub fn line(&self) -> &[u8] {
        &self.line
    }

    /// The line without its `\n` or `\r\n`.
    pub fn bare(&self) -> &[u8] {
        match self.line.strip_suffix(b"\n") {
            Some(l) => l.strip_suffix(b"\r").unwrap_or(l),
            None => &self.line,
        }
    }

    /// Reads the next line. The previous one is forgotten.
    pub async fn next(&mut self) -> std::io::Result<Line> {
        if std::mem::take(&mut self.returned) {
            self.line.clear();
            self.len = 0;
        }
        loop {
            let buf = self.reader.fill_buf().await?;
            let (take, ends) = match buf.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (buf.len(), false),
            };
            if take == 0 && self.len == 0 {
                return Ok(Line::Eof);
            }
            self.len += take;
            if self.len <= self.max {
                self.line.extend_from_slice(&buf[..take]);
            } else {
                self.line.clear();
            }
            self.reader.consume(take);
            // A last line without `\n` ends at EOF.
            if ends || take == 0 {
                self.returned = true;
                return Ok(if self.len > self.max {
                    Line::TooLong(self.len)
                } else {
                    Line::Complete
                });
            }
        }
    }
}
