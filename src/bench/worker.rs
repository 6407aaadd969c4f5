//! The per-connection load loops, written once for every transport.
//!
//! A closed-loop worker sends a batch of `--pipeline` messages, reads back
//! exactly as many bytes (or datagrams), verifies every message against what
//! it sent and records each message's round trip when its last byte arrives.
//! Nothing is allocated per message: the payload is a slice of a random
//! pattern made once per connection, and the receive buffer is reused.
//!
//! With `--request` the same loops send one fixed request per message
//! ([`Requests`]) and take one reply per request ([`ReplyReader`]: a line on a
//! stream, one datagram or WebSocket message otherwise), checking that it is
//! not empty and does not start with `ERR`. Stream replies are scanned as
//! they arrive, never buffered whole, so the reader's memory is one read
//! buffer whatever the server sends.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::{Rng as _, RngExt as _};

use super::report::Tally;
use super::transport::{Conn, Connector, Framing};
use crate::timer::{LazyDeadline, Watch};

/// Settings and shared state of one run, read by every worker.
pub struct Control {
    pub size: usize,
    /// `--request`: what every message is, instead of an echoed pattern.
    pub requests: Option<Requests>,
    /// `--greeting`: read one reply on every new connection first.
    pub greeting: bool,
    /// Printable ASCII payloads (`--text`).
    pub text: bool,
    pub pipeline: usize,
    pub timeout: Duration,
    /// Batches that start before this are warm-up: verified, not recorded.
    pub measure_from: Instant,
    /// No batch starts after this (`-d`); `None` with `-n`.
    pub end: Option<Instant>,
    /// `-n`: total messages to measure, claimed batch by batch.
    pub budget: Option<u64>,
    claimed: AtomicU64,
    /// Set on Ctrl-C: workers finish their batch and stop.
    pub stop: AtomicBool,
    /// Live counters for the progress line (only when it is shown).
    pub progress: Option<Progress>,
}

/// Counters behind the live progress line.
#[derive(Default)]
pub struct Progress {
    pub messages: AtomicU64,
    pub errors: AtomicU64,
    pub connects: AtomicU64,
}

impl Control {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        size: usize,
        text: bool,
        pipeline: usize,
        timeout: Duration,
        measure_from: Instant,
        end: Option<Instant>,
        budget: Option<u64>,
        progress: bool,
    ) -> Control {
        Control {
            size,
            requests: None,
            greeting: false,
            text,
            pipeline,
            timeout,
            measure_from,
            end,
            budget,
            claimed: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            progress: progress.then(Progress::default),
        }
    }

    /// Switches the run to request/reply mode (`--request`, `--greeting`).
    pub fn with_requests(mut self, requests: Requests, greeting: bool) -> Control {
        self.requests = Some(requests);
        self.greeting = greeting;
        self
    }

    /// A reply reader for one worker in request mode.
    fn reader<C: Conn>(&self) -> Option<ReplyReader> {
        self.requests
            .is_some()
            .then(|| ReplyReader::new(C::FRAMING, self.greeting))
    }

    /// How many messages the next batch may carry, or `None` when the run is
    /// over. Warm-up batches are always full and never use up the budget.
    fn claim(&self, now: Instant, want: usize) -> Option<usize> {
        if self.stop.load(Ordering::Relaxed) {
            return None;
        }
        if now < self.measure_from {
            return Some(want);
        }
        if self.end.is_some_and(|end| now >= end) {
            return None;
        }
        match self.budget {
            None => Some(want),
            Some(total) => {
                let before = self.claimed.fetch_add(want as u64, Ordering::Relaxed);
                (before < total).then(|| want.min((total - before) as usize))
            }
        }
    }

    fn report(&self, messages: u64, errors: u64, connects: u64) {
        if let Some(p) = &self.progress {
            p.messages.fetch_add(messages, Ordering::Relaxed);
            p.errors.fetch_add(errors, Ordering::Relaxed);
            p.connects.fetch_add(connects, Ordering::Relaxed);
        }
    }
}

/// Offsets a batch can start at in the pattern; prime, so consecutive
/// batches never repeat until it wraps.
const ROTATIONS: usize = 251;

/// Random payload bytes, made once per connection. Batch `i` is the slice
/// starting at `i mod ROTATIONS`: every message differs from the ones around
/// it, and a server that returns a stale or shifted reply is caught.
pub struct Pattern {
    bytes: Vec<u8>,
    span: usize,
}

impl Pattern {
    /// Random bytes, or with `text` random printable ASCII (`' '..='~'`),
    /// which is valid UTF-8 however it is sliced.
    pub fn new(span: usize, text: bool) -> Pattern {
        let mut bytes = vec![0u8; span + ROTATIONS];
        let mut rng = rand::rng();
        if text {
            for b in &mut bytes {
                *b = rng.random_range(b' '..=b'~');
            }
        } else {
            rng.fill_bytes(&mut bytes);
        }
        Pattern { bytes, span }
    }

    /// The first `len` bytes (at most the span) of batch `i`.
    pub fn batch(&self, i: u64, len: usize) -> &[u8] {
        let off = (i % ROTATIONS as u64) as usize;
        &self.bytes[off..off + len.min(self.span)]
    }
}

/// Longest reply the request mode accepts, without its line break: a longer
/// line (or message) is a `bad_reply` and the connection is dropped.
pub const MAX_REPLY: usize = 64 * 1024;

/// Bytes a stream reply reader takes from the socket per read.
const STREAM_READ: usize = 16 * 1024;

/// The request of `--request`, framed for the transport (a line on a stream,
/// the bare text as a datagram or message) and laid out `--pipeline` times
/// back to back, so a batch of any size up to that is one slice.
#[derive(Debug, Clone)]
pub struct Requests {
    batch: Vec<u8>,
    /// Bytes of one framed request.
    len: usize,
}

impl Requests {
    pub fn new(text: &str, framing: Framing, pipeline: usize) -> Requests {
        let mut one = text.as_bytes().to_vec();
        if framing == Framing::Stream {
            one.push(b'\n');
        }
        Requests {
            len: one.len(),
            batch: one.repeat(pipeline.max(1)),
        }
    }

    /// `count` requests (at most the pipeline depth), back to back.
    pub fn batch(&self, count: usize) -> &[u8] {
        &self.batch[..(count * self.len).min(self.batch.len())]
    }
}

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
    /// `--greeting`: a new connection's first reply is read by [`open`].
    greeting: bool,
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

/// A connection's reply deadline: moved on every batch without a timer
/// operation and watched without polling the timer on every wake-up (see
/// [`crate::timer`]), so that the load generator's own cost per message
/// stays below the server's.
pub struct Deadline {
    at: LazyDeadline,
    watch: Watch,
}

/// The reply deadline passed.
#[derive(Debug)]
pub struct Expired;

impl Deadline {
    pub fn new(timeout: Duration) -> Deadline {
        Deadline {
            at: LazyDeadline::new(tokio::time::Instant::now() + timeout),
            watch: Watch::new(),
        }
    }

    pub fn set(&mut self, at: Instant) {
        self.at.set(tokio::time::Instant::from_std(at));
    }

    /// Waits for `fut` unless the deadline passes first.
    pub fn until<F: Future>(&mut self, fut: F) -> impl Future<Output = Result<F::Output, Expired>> {
        let Deadline { at, watch } = self;
        watch.until(fut, move |cx| at.poll_expired(cx).map(|()| Expired))
    }

    /// Completes once the deadline has passed (for a `select!` with more
    /// branches than [`Deadline::until`] takes).
    pub async fn expired(&mut self) {
        // Polled here with the task's own waker: the next `until` must
        // poll the timer again.
        self.watch.rearm();
        self.at.expired().await
    }
}

/// Why an exchange failed. Counted in [`super::report::Errors`] already;
/// this only says what to do with the connection.
#[derive(Debug, PartialEq, Eq)]
pub enum Broken {
    /// The connection is unusable: drop it and reconnect.
    Drop,
    /// A message transport timed out and resynchronised: go on.
    Continue,
}

/// Sends `expect` as `expect.len() / size` messages and receives and
/// verifies their echoes. Every verified message is counted in `tally` (and
/// its latency recorded) when `measured`; every failure is counted in
/// `tally.errors` either way. `rbuf` must be longer than `expect` (by one
/// byte at least) and than `size`. Latency is measured from `t0`, the
/// batch's start (the caller has usually just read the clock).
#[allow(clippy::too_many_arguments)]
pub async fn exchange<C: Conn>(
    conn: &mut C,
    expect: &[u8],
    size: usize,
    rbuf: &mut [u8],
    deadline: &mut Deadline,
    timeout: Duration,
    measured: bool,
    tally: &mut Tally,
    t0: Instant,
) -> Result<(), Broken> {
    let count = expect.len() / size;
    deadline.set(t0 + timeout);
    let sent = deadline
        .until(conn.send(expect, count))
        .await
        .unwrap_or_else(|Expired| Err(io::Error::from(io::ErrorKind::TimedOut)));
    if let Err(e) = sent {
        tally.errors.count_io(&e);
        return Err(Broken::Drop);
    }

    let mut done = 0;
    match C::FRAMING {
        Framing::Stream => {
            let total = expect.len();
            let mut got = 0;
            while got < total {
                // The buffer is one byte longer than the batch, so a read
                // that completes the batch returns less than asked for and
                // tokio knows the socket is drained: without that it would
                // try one more `recv` (EAGAIN) before the next batch, a
                // system call per message that the server does not pay.
                let Ok(r) = deadline.until(conn.recv(&mut rbuf[got..])).await else {
                    tally.errors.timeout += (count - done) as u64;
                    return Err(if conn.resync() {
                        Broken::Continue
                    } else {
                        Broken::Drop
                    });
                };
                match r {
                    Ok(0) => {
                        tally.errors.short_read += 1;
                        return Err(Broken::Drop);
                    }
                    Ok(n) => got += n,
                    Err(e) => {
                        tally.errors.count_io(&e);
                        return Err(Broken::Drop);
                    }
                }
                let complete = got.min(total) / size;
                if complete > done {
                    let latency = t0.elapsed();
                    // Every message this read completed, verified with one
                    // comparison and recorded in one histogram update; only
                    // a batch with a mismatch is checked message by message.
                    let range = done * size..complete * size;
                    let good = if rbuf[range.clone()] == expect[range] {
                        complete - done
                    } else {
                        (done..complete)
                            .filter(|m| {
                                let r = m * size..(m + 1) * size;
                                rbuf[r.clone()] == expect[r]
                            })
                            .count()
                    };
                    tally.errors.mismatch += (complete - done - good) as u64;
                    if measured && good > 0 {
                        record_n(tally, latency, good as u64);
                    }
                    done = complete;
                }
                if got > total {
                    // More bytes than were sent: the stream is out of step.
                    tally.errors.mismatch += 1;
                    return Err(Broken::Drop);
                }
            }
        }
        Framing::Message => {
            // One byte more than a message so that a longer reply is seen.
            let window = &mut rbuf[..size + 1];
            while done < count {
                let Ok(r) = deadline.until(conn.recv(window)).await else {
                    tally.errors.timeout += (count - done) as u64;
                    return Err(if conn.resync() {
                        Broken::Continue
                    } else {
                        Broken::Drop
                    });
                };
                match r {
                    Ok(n) => {
                        if n != size || window[..n] != expect[done * size..(done + 1) * size] {
                            tally.errors.mismatch += 1;
                        } else if measured {
                            record(tally, t0.elapsed());
                        }
                        done += 1;
                    }
                    Err(e) => {
                        tally.errors.count_io(&e);
                        return Err(Broken::Drop);
                    }
                }
            }
        }
    }
    Ok(())
}

/// Request mode: sends `count` requests and takes one reply for each, in
/// order. Good replies are counted (latency and bytes) when `measured`; an
/// empty or `ERR` reply is a `bad_reply`. Like [`exchange`], every failure is
/// counted in `tally.errors` and the result says what to do with the
/// connection.
#[allow(clippy::too_many_arguments)]
pub async fn exchange_requests<C: Conn>(
    conn: &mut C,
    requests: &Requests,
    count: usize,
    rx: &mut ReplyReader,
    deadline: &mut Deadline,
    timeout: Duration,
    measured: bool,
    tally: &mut Tally,
    t0: Instant,
) -> Result<(), Broken> {
    deadline.set(t0 + timeout);
    let sent = deadline
        .until(conn.send(requests.batch(count), count))
        .await
        .unwrap_or_else(|Expired| Err(io::Error::from(io::ErrorKind::TimedOut)));
    if let Err(e) = sent {
        tally.errors.count_io(&e);
        return Err(Broken::Drop);
    }
    for done in 0..count {
        let Ok(r) = deadline.until(rx.next(conn)).await else {
            tally.errors.timeout += (count - done) as u64;
            return Err(if conn.resync() {
                Broken::Continue
            } else {
                Broken::Drop
            });
        };
        take_reply(r, measured, t0, tally)?;
    }
    if rx.pending() {
        // More than one reply to a request: the stream is out of step.
        tally.errors.bad_reply += 1;
        return Err(Broken::Drop);
    }
    Ok(())
}

/// Counts one request-mode reply (or why there is none).
fn take_reply(
    r: io::Result<Got>,
    measured: bool,
    t0: Instant,
    tally: &mut Tally,
) -> Result<(), Broken> {
    match r {
        Ok(Got::Reply { bytes, good: true }) => {
            if measured {
                record(tally, t0.elapsed());
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

/// Reads and checks the greeting of a new connection (`--greeting`). It is
/// not a message: only a failure is counted.
async fn greet<C: Conn>(
    conn: &mut C,
    rx: &mut ReplyReader,
    timeout: Duration,
    tally: &mut Tally,
) -> bool {
    match tokio::time::timeout(timeout, rx.next(conn)).await {
        Err(_) => {
            tally.errors.timeout += 1;
            false
        }
        Ok(r) => {
            let mut scratch = Tally::new();
            let ok = take_reply(r, false, Instant::now(), &mut scratch).is_ok()
                && scratch.errors.total() == 0;
            tally.errors.add(&scratch.errors);
            if ok && rx.pending() {
                // A second line before any request: not a one-line greeting.
                tally.errors.bad_reply += 1;
                return false;
            }
            ok
        }
    }
}

#[inline]
fn record(tally: &mut Tally, latency: Duration) {
    record_n(tally, latency, 1);
}

fn record_n(tally: &mut Tally, latency: Duration, n: u64) {
    tally.messages += n;
    super::report::record_n(&mut tally.latency, latency, n);
}

/// What a worker hands back when it ends.
pub struct Outcome {
    pub tally: Tally,
    /// When its last measured batch completed.
    pub last: Option<Instant>,
}

/// Consecutive failed reconnects after which a worker gives up.
const RECONNECT_ATTEMPTS: u32 = 3;

/// Opens a connection within `timeout`, recording its latency.
pub async fn connect<K: Connector>(
    connector: &K,
    timeout: Duration,
    tally: &mut Tally,
) -> Option<K::Conn> {
    let t0 = Instant::now();
    match tokio::time::timeout(timeout, connector.connect()).await {
        Ok(Ok(c)) => {
            tally.connects += 1;
            super::report::record(&mut tally.connect_latency, t0.elapsed());
            Some(c)
        }
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "connect failed");
            tally.errors.connect += 1;
            None
        }
        Err(_) => {
            tracing::debug!("connect timed out");
            tally.errors.connect += 1;
            None
        }
    }
}

/// Opens a connection like [`connect`]. In request mode (`rx`) the reader
/// starts afresh, and with `--greeting` the greeting is read and checked
/// first: a connection whose greeting fails is counted and dropped.
pub async fn open<K: Connector>(
    connector: &K,
    timeout: Duration,
    rx: Option<&mut ReplyReader>,
    tally: &mut Tally,
) -> Option<K::Conn> {
    let mut conn = connect(connector, timeout, tally).await?;
    if let Some(rx) = rx {
        rx.reset();
        if rx.greeting && !greet(&mut conn, rx, timeout, tally).await {
            return None;
        }
    }
    Some(conn)
}

/// What one closed-loop or connect-rate worker sends and checks: echoed
/// slices of a random pattern, or the fixed request of `--request`.
enum Load<'a> {
    Echo {
        pattern: Pattern,
        rbuf: Vec<u8>,
        size: usize,
        batch: u64,
    },
    Requests {
        requests: &'a Requests,
        rx: ReplyReader,
    },
}

impl<'a> Load<'a> {
    /// Buffers for batches of up to `per_batch` messages.
    fn new<C: Conn>(ctl: &'a Control, per_batch: usize) -> Load<'a> {
        match (&ctl.requests, ctl.reader::<C>()) {
            (Some(requests), Some(rx)) => Load::Requests { requests, rx },
            _ => Load::Echo {
                pattern: Pattern::new(ctl.size * per_batch, ctl.text),
                rbuf: vec![0u8; ctl.size * per_batch + 1],
                size: ctl.size,
                batch: 0,
            },
        }
    }

    fn reader(&mut self) -> Option<&mut ReplyReader> {
        match self {
            Load::Echo { .. } => None,
            Load::Requests { rx, .. } => Some(rx),
        }
    }

    /// One batch of `count` messages: [`exchange`] or [`exchange_requests`].
    #[allow(clippy::too_many_arguments)]
    async fn exchange<C: Conn>(
        &mut self,
        conn: &mut C,
        count: usize,
        deadline: &mut Deadline,
        timeout: Duration,
        measured: bool,
        tally: &mut Tally,
        t0: Instant,
    ) -> Result<(), Broken> {
        match self {
            Load::Echo {
                pattern,
                rbuf,
                size,
                batch,
            } => {
                let expect = pattern.batch(*batch, count * *size);
                *batch += 1;
                exchange(
                    conn, expect, *size, rbuf, deadline, timeout, measured, tally, t0,
                )
                .await
            }
            Load::Requests { requests, rx } => {
                exchange_requests(
                    conn, requests, count, rx, deadline, timeout, measured, tally, t0,
                )
                .await
            }
        }
    }
}

/// The closed loop of one connection: batch after batch until the run ends.
/// A broken connection is reopened; a worker that cannot reconnect
/// `RECONNECT_ATTEMPTS` times in a row gives up.
pub async fn closed_loop<K: Connector>(
    connector: Arc<K>,
    conn: K::Conn,
    ctl: Arc<Control>,
) -> Outcome {
    let mut load = Load::new::<K::Conn>(&ctl, ctl.pipeline);
    let mut tally = Tally::new();
    let mut deadline = Deadline::new(ctl.timeout);
    let mut conn = Some(conn);
    let mut failures = 0;
    let mut last = None;
    let mut measured = false;
    loop {
        // One clock read per batch: the end of the last batch is the start
        // of this one.
        let now = Instant::now();
        if measured {
            last = Some(now);
        }
        let Some(count) = ctl.claim(now, ctl.pipeline) else {
            break;
        };
        measured = now >= ctl.measure_from;
        let mut t0 = now;
        let c = match &mut conn {
            Some(c) => c,
            None => {
                let before = tally.errors.total();
                conn = open(&*connector, ctl.timeout, load.reader(), &mut tally).await;
                ctl.report(0, tally.errors.total() - before, 0);
                t0 = Instant::now();
                match &mut conn {
                    Some(c) => {
                        failures = 0;
                        c
                    }
                    None => {
                        failures += 1;
                        if failures >= RECONNECT_ATTEMPTS {
                            tracing::debug!("giving up after {failures} failed reconnects");
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                }
            }
        };
        let (messages, errors) = (tally.messages, tally.errors.total());
        let r = load
            .exchange(
                c,
                count,
                &mut deadline,
                ctl.timeout,
                measured,
                &mut tally,
                t0,
            )
            .await;
        if r == Err(Broken::Drop) {
            conn = None;
        }
        ctl.report(tally.messages - messages, tally.errors.total() - errors, 0);
    }
    Outcome { tally, last }
}

/// The connect-rate loop of one worker: connect, one echo (or request),
/// close, again.
pub async fn connect_loop<K: Connector>(connector: Arc<K>, ctl: Arc<Control>) -> Outcome {
    let mut load = Load::new::<K::Conn>(&ctl, 1);
    let mut tally = Tally::new();
    let mut deadline = Deadline::new(ctl.timeout);
    // Warm-up connections are not counted: this tally takes them and only
    // its errors are kept.
    let mut warm = Tally::new();
    let mut last = None;
    loop {
        let now = Instant::now();
        let Some(count) = ctl.claim(now, 1) else {
            break;
        };
        let measured = now >= ctl.measure_from;
        let (messages, errors, connects) = (tally.messages, tally.errors.total(), tally.connects);
        warm.errors = Default::default();
        let t = if measured { &mut tally } else { &mut warm };
        if let Some(mut c) = open(&*connector, ctl.timeout, load.reader(), t).await {
            let t0 = Instant::now();
            let _ = load
                .exchange(&mut c, count, &mut deadline, ctl.timeout, measured, t, t0)
                .await;
        }
        tally.errors.add(&warm.errors);
        if measured {
            last = Some(Instant::now());
        }
        ctl.report(
            tally.messages - messages,
            tally.errors.total() - errors,
            tally.connects - connects,
        );
    }
    Outcome { tally, last }
}

/// When the messages of one open-loop connection are due: message `k` at
/// `first + k × every`.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub first: Instant,
    pub every: Duration,
}

impl Schedule {
    /// The intended send time of message `k`.
    pub fn due(&self, k: u64) -> Instant {
        self.first + self.every.mul_f64(k as f64)
    }
}

/// A message sent by the open loop and not answered yet.
struct Sent {
    index: u64,
    due: Instant,
    at: Instant,
}

/// The open loop (`--rate`) of one connection. Messages are sent on a fixed
/// schedule whatever the replies do; a wake-up sends every message whose
/// time has come (so a coarse timer does not lower the rate), and each
/// reply's latency is measured from its message's intended send time, so a
/// stalled server is charged for the messages it delayed (no coordinated
/// omission). Replies are matched to messages in order (request mode:
/// strictly in order, one reply per request).
pub async fn open_loop<K: Connector>(
    connector: Arc<K>,
    conn: K::Conn,
    ctl: Arc<Control>,
    schedule: Schedule,
) -> Outcome {
    let size = ctl.size;
    let pattern = Pattern::new(size, ctl.text);
    // Stream replies are read in chunks of up to 16 messages; a partial
    // message stays at the front of the buffer until the rest arrives.
    let mut rbuf = vec![0u8; size * 17 + 1];
    let mut held = 0usize;
    let mut rx = ctl.reader::<K::Conn>();
    let mut tally = Tally::new();
    let mut deadline = Deadline::new(ctl.timeout);
    let mut conn = Some(conn);
    let mut inflight: VecDeque<Sent> = VecDeque::new();
    let mut failures = 0;
    let mut last = None;
    let mut next = 0u64;
    let mut sending = true;
    loop {
        let (messages, errors) = (tally.messages, tally.errors.total());
        let Some(c) = conn.as_mut() else {
            if !sending {
                break;
            }
            conn = open(&*connector, ctl.timeout, rx.as_mut(), &mut tally).await;
            if conn.is_some() {
                failures = 0;
                held = 0;
            } else {
                failures += 1;
                if failures >= RECONNECT_ATTEMPTS {
                    tracing::debug!("giving up after {failures} failed reconnects");
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            ctl.report(0, tally.errors.total() - errors, 0);
            continue;
        };

        // Send every message that is due by now.
        let mut broken = false;
        while sending {
            let due = schedule.due(next);
            let now = Instant::now();
            if due > now {
                break;
            }
            if ctl.claim(due, 1).is_none() {
                sending = false;
                break;
            }
            deadline.set(now + ctl.timeout);
            let message = match &ctl.requests {
                Some(requests) => requests.batch(1),
                None => pattern.batch(next, size),
            };
            let sent = deadline
                .until(c.send(message, 1))
                .await
                .unwrap_or_else(|Expired| Err(io::Error::from(io::ErrorKind::TimedOut)));
            if let Err(e) = sent {
                tally.errors.count_io(&e);
                broken = true;
                break;
            }
            inflight.push_back(Sent {
                index: next,
                due,
                at: now,
            });
            next += 1;
        }
        if broken {
            tally.errors.timeout += inflight.len() as u64;
            inflight.clear();
            conn = None;
            ctl.report(0, tally.errors.total() - errors, 0);
            continue;
        }
        if !sending && inflight.is_empty() {
            break;
        }

        // Wait for a reply, the next message's time or the oldest reply's
        // deadline, whichever comes first.
        if let Some(oldest) = inflight.front() {
            deadline.set(oldest.at + ctl.timeout);
        }
        let wake = tokio::time::Instant::from_std(schedule.due(next));
        let r = tokio::select! {
            biased;
            r = receive(c, rx.as_mut(), &mut rbuf[held..]) => Some(r),
            _ = tokio::time::sleep_until(wake), if sending => None,
            _ = deadline.expired(), if !inflight.is_empty() => {
                tally.errors.timeout += inflight.len() as u64;
                inflight.clear();
                held = 0;
                if !c.resync() {
                    conn = None;
                }
                ctl.report(0, tally.errors.total() - errors, 0);
                continue;
            }
        };
        let Some(r) = r else { continue };
        let now = Instant::now();
        let measure = |tally: &mut Tally, last: &mut Option<Instant>, s: &Sent| {
            if s.due >= ctl.measure_from {
                record(tally, now.saturating_duration_since(s.due));
                *last = Some(now);
            }
        };
        match (r, C::<K>::FRAMING) {
            (Received::Reply(Ok(Got::Reply { bytes, good })), _) => match inflight.pop_front() {
                Some(s) if good => {
                    measure(&mut tally, &mut last, &s);
                    if s.due >= ctl.measure_from {
                        tally.bytes += bytes as u64;
                    }
                }
                Some(_) => tally.errors.bad_reply += 1,
                None => {
                    // A reply to no request: the connection is out of step.
                    tally.errors.bad_reply += 1;
                    conn = None;
                }
            },
            (Received::Reply(Ok(Got::TooLong)), _) => {
                tally.errors.bad_reply += 1;
                tally.errors.timeout += inflight.len().saturating_sub(1) as u64;
                inflight.clear();
                conn = None;
            }
            (Received::Reply(Ok(Got::Closed)), _) => {
                tally.errors.short_read += inflight.len().max(1) as u64;
                inflight.clear();
                conn = None;
            }
            (Received::Bytes(Err(e)) | Received::Reply(Err(e)), _) => {
                tally.errors.count_io(&e);
                tally.errors.timeout += inflight.len().saturating_sub(1) as u64;
                inflight.clear();
                conn = None;
            }
            (Received::Bytes(Ok(0)), Framing::Stream) => {
                tally.errors.short_read += inflight.len().max(1) as u64;
                inflight.clear();
                conn = None;
            }
            (Received::Bytes(Ok(n)), Framing::Stream) => {
                held += n;
                let mut off = 0;
                while held - off >= size {
                    let Some(s) = inflight.pop_front() else {
                        // Bytes nobody sent: the stream is out of step.
                        tally.errors.mismatch += 1;
                        conn = None;
                        break;
                    };
                    if rbuf[off..off + size] == *pattern.batch(s.index, size) {
                        measure(&mut tally, &mut last, &s);
                    } else {
                        tally.errors.mismatch += 1;
                    }
                    off += size;
                }
                rbuf.copy_within(off..held, 0);
                held -= off;
            }
            (Received::Bytes(Ok(n)), Framing::Message) => {
                // A lost datagram must not shift every later match: look
                // for the message this reply echoes and count the ones
                // before it as lost.
                let reply = &rbuf[..n];
                let found = (n == size)
                    .then(|| {
                        inflight
                            .iter()
                            .position(|s| reply == pattern.batch(s.index, size))
                    })
                    .flatten();
                match found {
                    Some(pos) => {
                        tally.errors.timeout += pos as u64;
                        inflight.drain(..pos);
                        if let Some(s) = inflight.pop_front() {
                            measure(&mut tally, &mut last, &s);
                        }
                    }
                    None => {
                        tally.errors.mismatch += 1;
                        inflight.pop_front();
                    }
                }
            }
        }
        ctl.report(tally.messages - messages, tally.errors.total() - errors, 0);
    }
    Outcome { tally, last }
}

/// What one receive of the open loop took off the connection.
enum Received {
    /// Echo: bytes of a stream, or one datagram or message.
    Bytes(io::Result<usize>),
    /// Request mode: one whole reply.
    Reply(io::Result<Got>),
}

/// One receive of the open loop: into `buf` (echo) or one reply through
/// `rx` (request mode). Cancel-safe like both of those.
async fn receive<C: Conn>(c: &mut C, rx: Option<&mut ReplyReader>, buf: &mut [u8]) -> Received {
    match rx {
        Some(rx) => Received::Reply(rx.next(c).await),
        None => Received::Bytes(c.recv(buf).await),
    }
}

/// The connection type of a connector, to name its framing.
type C<K> = <K as Connector>::Conn;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_batches_differ() {
        let p = Pattern::new(64, false);
        assert_eq!(p.batch(0, 64).len(), 64);
        assert_ne!(p.batch(0, 64), p.batch(1, 64));
        assert_eq!(p.batch(0, 64), p.batch(ROTATIONS as u64, 64));
        assert_eq!(p.batch(3, 10).len(), 10);
    }

    #[test]
    fn text_patterns_are_printable_ascii() {
        let p = Pattern::new(1000, true);
        assert!(p.bytes.iter().all(|b| (b' '..=b'~').contains(b)));
        assert!(std::str::from_utf8(p.batch(7, 1000)).is_ok());
    }

    #[test]
    fn requests_are_framed_per_transport() {
        let r = Requests::new("1 6", Framing::Stream, 3);
        assert_eq!(r.batch(1), b"1 6\n");
        assert_eq!(r.batch(3), b"1 6\n1 6\n1 6\n");
        assert_eq!(r.batch(9), r.batch(3));
        let r = Requests::new("", Framing::Message, 2);
        assert_eq!(r.batch(2), b"");
    }

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

    #[test]
    fn the_budget_is_shared_and_exact() {
        let now = Instant::now();
        let ctl = Control::new(
            8,
            false,
            4,
            Duration::from_secs(1),
            now,
            None,
            Some(10),
            false,
        );
        assert_eq!(ctl.claim(now, 4), Some(4));
        assert_eq!(ctl.claim(now, 4), Some(4));
        assert_eq!(ctl.claim(now, 4), Some(2));
        assert_eq!(ctl.claim(now, 4), None);
    }
}
