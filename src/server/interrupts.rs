//! Waiting for a session's I/O while watching for the rare events that end
//! or interrupt it: the idle deadline, server shutdown and (WebSocket) the
//! ping timer.
//!
//! The watchers are polled only when they woke the task, and the idle
//! deadline moves without a timer operation per message (see
//! [`crate::timer`]): on a busy connection they cost next to nothing.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, Interval, MissedTickBehavior};
use tokio_util::sync::WaitForCancellationFuture;

use crate::timer::{IdleDeadline, Watch};

/// What interrupted a wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interrupt {
    /// No traffic for `--idle-timeout`.
    Idle,
    /// The server is shutting down.
    Shutdown,
    /// Time to ping the peer (`--ping-interval`).
    Ping,
}

/// One session's idle timer, shutdown signal and optional ping timer: what
/// may interrupt its waits for I/O.
pub struct Interrupts<'a> {
    /// The idle deadline, which every bit of traffic renews.
    idle: Option<IdleDeadline>,
    shutdown: Pin<Box<WaitForCancellationFuture<'a>>>,
    ping: Option<Interval>,
    watch: Watch,
    /// The last wait watched the idle timer only.
    partial: bool,
}

impl<'a> Interrupts<'a> {
    /// `idle: None` never times out (UDP listeners have no session).
    pub fn new(idle: Option<Duration>, shutdown: WaitForCancellationFuture<'a>) -> Interrupts<'a> {
        Interrupts {
            idle: idle.map(IdleDeadline::new),
            shutdown: Box::pin(shutdown),
            ping: None,
            watch: Watch::new(),
            partial: false,
        }
    }

    /// Also reports [`Interrupt::Ping`] every `every`, starting `every` from now.
    pub fn with_ping(mut self, every: Option<Duration>) -> Interrupts<'a> {
        self.ping = every.map(|every| {
            let mut i = tokio::time::interval_at(Instant::now() + every, every);
            i.set_missed_tick_behavior(MissedTickBehavior::Delay);
            i
        });
        self.watch.rearm();
        self
    }

    /// Records traffic: the idle deadline moves to `--idle-timeout` from now.
    #[inline]
    pub fn touch(&mut self) {
        if let Some(deadline) = self.idle.as_mut() {
            deadline.touch();
        }
    }

    /// Waits for `fut` unless the session goes idle, the server shuts down
    /// or a ping is due. `fut` is polled first; when it completes it wins.
    pub fn until<F: Future>(
        &mut self,
        fut: F,
    ) -> impl Future<Output = Result<F::Output, Interrupt>> {
        if std::mem::take(&mut self.partial) {
            // A shutdown or ping seen (and not reported) by `until_idle`
            // must be seen now.
            self.watch.rearm();
        }
        self.wait(fut, true)
    }

    /// [`Interrupts::until`] for a session that has exchanged something,
    /// [`Interrupts::until_idle`] for one that has not: a client whose
    /// connection was accepted gets its first request answered even when
    /// shutdown begins before the request arrives (it was in flight: the
    /// client sent it as soon as it connected), within
    /// `--shutdown-timeout`.
    pub fn until_served<F: Future>(
        &mut self,
        fut: F,
        fresh: bool,
    ) -> impl Future<Output = Result<F::Output, Interrupt>> {
        if fresh {
            self.partial = true;
        } else if std::mem::take(&mut self.partial) {
            self.watch.rearm();
        }
        self.wait(fut, !fresh)
    }

    /// Like [`Interrupts::until`], but only the idle timer interrupts: for a
    /// reply already in flight, which shutdown lets finish.
    pub fn until_idle<F: Future>(
        &mut self,
        fut: F,
    ) -> impl Future<Output = Result<F::Output, Interrupt>> {
        self.partial = true;
        self.wait(fut, false)
    }

    // Plain functions returning the watched future, not `async fn`s: the
    // future lives inside every connection's task, and each `async fn`
    // layer would add its own copy of its arguments.
    fn wait<F: Future>(
        &mut self,
        fut: F,
        all: bool,
    ) -> impl Future<Output = Result<F::Output, Interrupt>> {
        let Interrupts {
            idle,
            shutdown,
            ping,
            watch,
            ..
        } = self;
        watch.until(fut, move |cx| poll_events(cx, idle, shutdown, ping, all))
    }
}

fn poll_events(
    cx: &mut Context<'_>,
    idle: &mut Option<IdleDeadline>,
    shutdown: &mut Pin<Box<WaitForCancellationFuture<'_>>>,
    ping: &mut Option<Interval>,
    all: bool,
) -> Poll<Interrupt> {
    if let Some(deadline) = idle.as_mut()
        && deadline.poll_expired(cx).is_ready()
    {
        return Poll::Ready(Interrupt::Idle);
    }
    if !all {
        return Poll::Pending;
    }
    if shutdown.as_mut().poll(cx).is_ready() {
        return Poll::Ready(Interrupt::Shutdown);
    }
    if let Some(ping) = ping.as_mut()
        && ping.poll_tick(cx).is_ready()
    {
        return Poll::Ready(Interrupt::Ping);
    }
    Poll::Pending
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_util::sync::CancellationToken;

    #[tokio::test(start_paused = true)]
    async fn io_wins_and_idle_fires_after_a_quiet_period() {
        let token = CancellationToken::new();
        let mut g = Interrupts::new(Some(Duration::from_secs(10)), token.cancelled());
        // Many ready futures: the watchers are not consulted.
        for _ in 0..100 {
            assert_eq!(g.until(async { 7 }).await, Ok(7));
        }
        tokio::time::advance(Duration::from_secs(6)).await;
        g.touch();
        let start = tokio::time::Instant::now();
        let r = g.until(std::future::pending::<()>()).await;
        assert_eq!(r, Err(Interrupt::Idle));
        // Never early; late by at most the deadline's step (1 s here).
        let quiet = tokio::time::Instant::now() - start;
        assert!(
            quiet >= Duration::from_secs(10) && quiet <= Duration::from_secs(11),
            "{quiet:?}"
        );
    }

    #[tokio::test]
    async fn shutdown_interrupts_a_wait_but_not_a_reply_in_flight() {
        let token = CancellationToken::new();
        let mut g = Interrupts::new(Some(Duration::from_secs(60)), token.cancelled());
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
        assert_eq!(r, Err(Interrupt::Shutdown));
    }

    #[tokio::test]
    async fn a_fresh_session_outlives_shutdown_until_its_first_request() {
        let token = CancellationToken::new();
        let mut g = Interrupts::new(Some(Duration::from_secs(60)), token.cancelled());
        token.cancel();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let _ = tx.send(());
        });
        assert!(g.until_served(rx, true).await.is_ok());
        let r = g.until_served(std::future::pending::<()>(), false).await;
        assert_eq!(r, Err(Interrupt::Shutdown));
    }

    #[tokio::test(start_paused = true)]
    async fn pings_repeat() {
        let token = CancellationToken::new();
        let mut g =
            Interrupts::new(None, token.cancelled()).with_ping(Some(Duration::from_secs(5)));
        for _ in 0..3 {
            let start = tokio::time::Instant::now();
            let r = g.until(std::future::pending::<()>()).await;
            assert_eq!(r, Err(Interrupt::Ping));
            assert_eq!(tokio::time::Instant::now() - start, Duration::from_secs(5));
        }
    }
}
