//! One worker's connection over its life: opening it (connect latency,
//! `--greeting`), the first reply byte, the reply deadline and retiring it
//! after `--conn-lifetime`.

use std::future::Future;
use std::time::{Duration, Instant};

use super::reply::ReplyReader;
use super::tally::Tally;
use super::transport::{Conn, Connector};
use crate::timer::{LazyDeadline, Watch};

/// A connection's reply deadline: moved on every batch without a timer
/// operation and watched without polling the timer on every wake-up (see
/// [`crate::timer`]), so that the load generator's own cost per message
/// stays low.
pub struct Deadline {
    at: LazyDeadline,
    watch: Watch,
    timeout: Duration,
}

/// The reply deadline passed.
#[derive(Debug)]
pub struct Expired;

impl Deadline {
    pub fn new(timeout: Duration) -> Deadline {
        Deadline {
            at: LazyDeadline::new(tokio::time::Instant::now() + timeout),
            watch: Watch::new(),
            timeout,
        }
    }

    /// The deadline of whatever was sent at `t0`.
    pub fn arm(&mut self, t0: Instant) {
        self.at
            .set(tokio::time::Instant::from_std(t0 + self.timeout));
    }

    /// Waits for `fut` unless the deadline passes first.
    pub fn until<F: Future>(&mut self, fut: F) -> impl Future<Output = Result<F::Output, Expired>> {
        let Deadline { at, watch, .. } = self;
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

/// A worker's current connection, if any.
pub struct Link<C> {
    pub conn: Option<C>,
    /// When the current connection's connect began.
    opened: Instant,
    /// Set until the current connection's first reply byte arrives: the
    /// start of its connect, for the first-byte latency.
    pub first: Option<Instant>,
    /// Failed opens in a row.
    failures: u32,
}

/// Consecutive failed reconnects after which a worker gives up.
pub const RECONNECT_ATTEMPTS: u32 = 3;

impl<C: Conn> Link<C> {
    pub fn new(conn: Option<C>, opened: Instant) -> Link<C> {
        Link {
            first: conn.as_ref().map(|_| opened),
            conn,
            opened,
            failures: 0,
        }
    }

    /// Opens a connection within `timeout`, recording its latency. In
    /// request mode (`rx`) the reader starts afresh, and with `--greeting`
    /// the greeting is read and checked first (it is the first byte): a
    /// connection whose greeting fails is counted and dropped.
    pub async fn open<K: Connector<Conn = C>>(
        &mut self,
        connector: &K,
        timeout: Duration,
        rx: Option<&mut ReplyReader>,
        tally: &mut Tally,
    ) -> bool {
        self.conn = None;
        let t0 = Instant::now();
        let mut conn = match tokio::time::timeout(timeout, connector.connect()).await {
            Ok(Ok(c)) => {
                tally.connected(t0.elapsed());
                c
            }
            Ok(Err(e)) => return self.failed(tally, &e.to_string()),
            Err(_) => return self.failed(tally, "timed out"),
        };
        self.opened = t0;
        self.first = Some(t0);
        if let Some(rx) = rx {
            rx.reset();
            if rx.greeting {
                if !greet(&mut conn, rx, timeout, tally).await {
                    self.failures += 1;
                    return false;
                }
                tally.first_byte(t0.elapsed());
                self.first = None;
            }
        }
        self.failures = 0;
        self.conn = Some(conn);
        true
    }

    fn failed(&mut self, tally: &mut Tally, why: &str) -> bool {
        tracing::debug!(error = why, "connect failed");
        tally.errors.connect += 1;
        self.failures += 1;
        false
    }

    /// After a failed open: waits a little before the next attempt, or
    /// says to give up after [`RECONNECT_ATTEMPTS`] in a row.
    pub fn back_off(&self) -> impl Future<Output = bool> + Send + 'static {
        // Decided now, so that the future does not hold the link.
        let failures = self.failures;
        async move {
            if failures >= RECONNECT_ATTEMPTS {
                tracing::debug!("giving up after {failures} failed reconnects");
                return false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            true
        }
    }

    /// True when `--conn-lifetime` has passed for the current connection.
    pub fn due_to_retire(&self, now: Instant, lifetime: Option<Duration>) -> bool {
        self.conn.is_some() && lifetime.is_some_and(|l| now >= self.opened + l)
    }

    /// Closes the current connection (a WebSocket says goodbye first),
    /// within `timeout`.
    pub async fn retire(&mut self, timeout: Duration) {
        if let Some(mut c) = self.conn.take() {
            let _ = tokio::time::timeout(timeout, c.close()).await;
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
            let ok = super::reply::take_reply(r, None, &mut scratch).is_ok()
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
