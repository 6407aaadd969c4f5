//! Server limits and the idle timer that enforces `--idle-timeout`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

/// Every limit the server enforces, each with a default and a flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Most sessions open at once, over every listener of the process.
    pub max_connections: usize,
    /// A session with no traffic (in or out) for this long is closed.
    pub idle_timeout: Duration,
    /// Longest request line, in bytes, not counting the line break.
    pub max_line: usize,
    /// Largest WebSocket message, in bytes.
    pub max_message: usize,
    /// How long graceful shutdown may take before connections are dropped.
    pub shutdown_timeout: Duration,
    /// WebSocket: ping every client this often and drop one that has not
    /// answered the previous ping (`None`: no pings).
    pub ping_interval: Option<Duration>,
    /// Browser origins allowed to open WebSocket sessions, besides the
    /// listener's own (see `http::origin_allowed`).
    pub allowed_origins: Vec<String>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 10_000,
            idle_timeout: Duration::from_secs(300),
            max_line: 8192,
            max_message: 1 << 20,
            shutdown_timeout: Duration::from_secs(5),
            ping_interval: None,
            allowed_origins: Vec::new(),
        }
    }
}

/// A per-connection idle deadline that costs no timer operation per message.
///
/// Re-arming a tokio timer on every read would put the timer wheel on the hot
/// path of every echo. Instead activity only records `Instant::now()`; the
/// single timer fires at the old deadline, notices the newer activity and
/// re-arms itself once. A busy connection therefore touches the timer wheel
/// about once per `idle` period.
pub struct IdleTimer {
    sleep: Pin<Box<Sleep>>,
    last_activity: Instant,
    idle: Duration,
}

impl IdleTimer {
    pub fn new(idle: Duration) -> IdleTimer {
        let now = Instant::now();
        IdleTimer {
            sleep: Box::pin(tokio::time::sleep_until(now + idle)),
            last_activity: now,
            idle,
        }
    }

    /// Records traffic: the deadline moves to `idle` from now.
    #[inline]
    pub fn touch(&mut self) {
        self.last_activity = Instant::now();
    }

    /// Completes once the session has been idle for the whole period.
    pub async fn expired(&mut self) {
        std::future::poll_fn(|cx| self.poll_expired(cx)).await
    }

    /// `Ready` once the session has been idle for the whole period;
    /// otherwise the timer is (re-)armed for `cx`.
    pub fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            ready!(self.sleep.as_mut().poll(cx));
            let deadline = self.last_activity + self.idle;
            if Instant::now() >= deadline {
                return Poll::Ready(());
            }
            self.sleep.as_mut().reset(deadline);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn fires_only_after_a_full_quiet_period() {
        let mut t = IdleTimer::new(Duration::from_secs(10));
        tokio::time::advance(Duration::from_secs(6)).await;
        t.touch();
        let start = Instant::now();
        t.expired().await;
        // Fired 10 s after the touch, not 10 s after creation.
        assert_eq!(Instant::now() - start, Duration::from_secs(10));
    }
}
