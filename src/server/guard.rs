//! Waiting for a session's I/O while watching for the rare events that end
//! or interrupt it: the idle deadline, server shutdown and (WebSocket) the
//! ping timer.
//!
//! `tokio::select!` polls every branch each time the task wakes. On a busy
//! connection almost every wake-up comes from the socket, yet each one
//! would also re-register the idle timer's entry and the shutdown waiter:
//! callgrind counted that at about 280 instructions per echoed message,
//! more than a tenth of the server's user-space work per message.
//!
//! [`Guard`] polls those watchers through a waker of its own, and only
//! after that waker has fired. A wake-up caused by the socket costs one
//! atomic swap; a timer or shutdown wake-up sets the flag, wakes the task,
//! and the watchers are polled as before. Nothing is lost in between: a
//! watcher that is not polled keeps the guard's waker registered.

use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use futures_util::task::AtomicWaker;
use tokio::time::{Interval, MissedTickBehavior};
use tokio_util::sync::WaitForCancellationFuture;

use super::limits::IdleTimer;

/// What interrupted a wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// No traffic for `--idle-timeout`.
    Idle,
    /// The server is shutting down.
    Shutdown,
    /// Time to ping the peer (`--ping-interval`).
    Ping,
}

/// Set by the watchers' waker; passes the wake-up on to the task.
struct Flag {
    fired: AtomicBool,
    task: AtomicWaker,
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.fired.store(true, Ordering::Release);
        self.task.wake();
    }
}

/// One session's idle timer, shutdown signal and optional ping timer.
pub struct Guard<'a> {
    idle: Option<IdleTimer>,
    shutdown: Pin<Box<WaitForCancellationFuture<'a>>>,
    ping: Option<Interval>,
    flag: Arc<Flag>,
    waker: Waker,
}

impl<'a> Guard<'a> {
    /// `idle: None` never times out (UDP listeners have no session).
    pub fn new(idle: Option<Duration>, shutdown: WaitForCancellationFuture<'a>) -> Guard<'a> {
        let flag = Arc::new(Flag {
            // The first wait must poll (and so register) every watcher.
            fired: AtomicBool::new(true),
            task: AtomicWaker::new(),
        });
        Guard {
            idle: idle.map(IdleTimer::new),
            shutdown: Box::pin(shutdown),
            ping: None,
            waker: Waker::from(flag.clone()),
            flag,
        }
    }

    /// Also reports [`Event::Ping`] every `every`, starting `every` from now.
    pub fn with_ping(mut self, every: Option<Duration>) -> Guard<'a> {
        self.ping = every.map(|every| {
            let mut i = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            i.set_missed_tick_behavior(MissedTickBehavior::Delay);
            i
        });
        self.rearm();
        self
    }

    /// Records traffic: the idle deadline moves to `--idle-timeout` from now.
    #[inline]
    pub fn touch(&mut self) {
        if let Some(idle) = self.idle.as_mut() {
            idle.touch();
        }
    }

    /// Waits for `fut` unless the session goes idle, the server shuts down
    /// or a ping is due. `fut` is polled first; when it completes it wins.
    pub async fn until<F: Future>(&mut self, fut: F) -> Result<F::Output, Event> {
        self.wait(fut, true).await
    }

    /// Like [`Guard::until`], but only the idle timer interrupts: for a
    /// reply already in flight, which shutdown lets finish.
    pub async fn until_idle<F: Future>(&mut self, fut: F) -> Result<F::Output, Event> {
        let r = self.wait(fut, false).await;
        // A shutdown or ping seen (and not reported) here must be seen by
        // the next `until`.
        self.rearm();
        r
    }

    async fn wait<F: Future>(&mut self, fut: F, all: bool) -> Result<F::Output, Event> {
        let mut fut = pin!(fut);
        poll_fn(|cx| {
            if let Poll::Ready(v) = fut.as_mut().poll(cx) {
                return Poll::Ready(Ok(v));
            }
            // Register before looking at the flag: a watcher firing in
            // between then wakes this task again.
            self.flag.task.register(cx.waker());
            if !self.flag.fired.swap(false, Ordering::AcqRel) {
                return Poll::Pending;
            }
            // (A clone, one reference count, only on this rare path.)
            let waker = self.waker.clone();
            let mut watchers = Context::from_waker(&waker);
            match self.poll_watchers(&mut watchers, all) {
                Poll::Ready(event) => {
                    // A watcher that fired is no longer registered: poll
                    // them all again on the next wait.
                    self.rearm();
                    Poll::Ready(Err(event))
                }
                Poll::Pending => Poll::Pending,
            }
        })
        .await
    }

    fn poll_watchers(&mut self, cx: &mut Context<'_>, all: bool) -> Poll<Event> {
        if let Some(idle) = self.idle.as_mut()
            && idle.poll_expired(cx).is_ready()
        {
            return Poll::Ready(Event::Idle);
        }
        if !all {
            return Poll::Pending;
        }
        if self.shutdown.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Event::Shutdown);
        }
        if let Some(ping) = self.ping.as_mut()
            && ping.poll_tick(cx).is_ready()
        {
            return Poll::Ready(Event::Ping);
        }
        Poll::Pending
    }

    fn rearm(&self) {
        self.flag.fired.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_util::sync::CancellationToken;

    #[tokio::test(start_paused = true)]
    async fn io_wins_and_idle_fires_after_a_quiet_period() {
        let token = CancellationToken::new();
        let mut g = Guard::new(Some(Duration::from_secs(10)), token.cancelled());
        // Many ready futures: the watchers are not consulted.
        for _ in 0..100 {
            assert_eq!(g.until(async { 7 }).await, Ok(7));
        }
        tokio::time::advance(Duration::from_secs(6)).await;
        g.touch();
        let start = tokio::time::Instant::now();
        let r = g.until(std::future::pending::<()>()).await;
        assert_eq!(r, Err(Event::Idle));
        assert_eq!(tokio::time::Instant::now() - start, Duration::from_secs(10));
    }

    #[tokio::test]
    async fn shutdown_interrupts_a_wait_but_not_a_reply_in_flight() {
        let token = CancellationToken::new();
        let mut g = Guard::new(Some(Duration::from_secs(60)), token.cancelled());
        let t = token.clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            t.cancel();
            tokio::time::sleep(Duration::from_millis(20)).await;
            let _ = tx.send(());
        });
        // until_idle ignores shutdown and completes with its future...
        assert!(g.until_idle(rx).await.is_ok());
        // ...and the next wait still sees the shutdown it swallowed.
        let r = g.until(std::future::pending::<()>()).await;
        assert_eq!(r, Err(Event::Shutdown));
    }

    #[tokio::test(start_paused = true)]
    async fn pings_repeat() {
        let token = CancellationToken::new();
        let mut g = Guard::new(None, token.cancelled()).with_ping(Some(Duration::from_secs(5)));
        for _ in 0..3 {
            let start = tokio::time::Instant::now();
            let r = g.until(std::future::pending::<()>()).await;
            assert_eq!(r, Err(Event::Ping));
            assert_eq!(tokio::time::Instant::now() - start, Duration::from_secs(5));
        }
    }
}
