//! Deadlines that cost nothing per message, for the server's sessions (idle
//! timeout) and the load generator's connections (reply timeout) alike.
//!
//! Two costs are avoided on the hot path of every message:
//!
//! - **Re-arming a timer.** [`LazyDeadline::set`] only stores the new
//!   instant; the one tokio timer fires at the old deadline, sees the newer
//!   one and re-arms itself once. A busy connection touches the timer wheel
//!   about once per timeout period.
//! - **Polling the timer.** `tokio::select!` polls every branch each time
//!   the task wakes, and nearly every wake-up of a busy connection comes
//!   from its socket. [`Watch`] polls the rare events through a waker of
//!   its own, only after that waker has fired: a wake-up caused by the
//!   socket costs one atomic swap. callgrind counted the difference at
//!   about 280 instructions per echoed message in the server.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker, ready};
use std::time::Duration;

use futures_util::task::{ArcWake, waker_ref};
use tokio::time::{Instant, Sleep};

/// A deadline that can be moved on every message without a timer
/// operation.
pub struct LazyDeadline {
    sleep: Pin<Box<Sleep>>,
    at: Instant,
}

impl LazyDeadline {
    pub fn new(at: Instant) -> LazyDeadline {
        LazyDeadline {
            sleep: Box::pin(tokio::time::sleep_until(at)),
            at,
        }
    }

    /// Moves the deadline (later or earlier) without touching the timer:
    /// a later one is noticed when the timer fires, an earlier one at the
    /// next poll.
    #[inline]
    pub fn set(&mut self, at: Instant) {
        self.at = at;
    }

    /// `Ready` once the deadline has passed; otherwise the timer is
    /// (re-)armed for `cx`.
    pub fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            if self.sleep.deadline() > self.at {
                // Moved earlier: the timer must fire sooner.
                self.sleep.as_mut().reset(self.at);
            }
            ready!(self.sleep.as_mut().poll(cx));
            if Instant::now() >= self.at {
                return Poll::Ready(());
            }
            self.sleep.as_mut().reset(self.at);
        }
    }

    /// Completes once the deadline has passed.
    pub async fn expired(&mut self) {
        poll_fn(|cx| self.poll_expired(cx)).await
    }
}

/// An idle deadline: `period` after the last activity, where recording
/// activity reads no clock.
///
/// [`LazyDeadline`] still reads the clock once per message to compute the
/// new deadline; at 64-byte echo that was two `clock_gettime` calls per
/// message, about 1% of the server's CPU. Here [`IdleDeadline::touch`]
/// sets a flag. The first touch after a quiet stretch reads the clock once
/// and arms the timer `step` ahead (the smaller of one second and an eighth
/// of the period); when the timer fires it takes the flag and counts the
/// quiet from then. So a busy connection costs two timer operations per
/// step, an idle one one per period, and the deadline passes between
/// `period` and `period + step` after the last activity: never before.
pub struct IdleDeadline {
    sleep: Pin<Box<Sleep>>,
    period: Duration,
    /// No activity since this instant, as far as the timer has seen.
    quiet_since: Instant,
    /// Activity since the timer last looked.
    active: bool,
}

impl IdleDeadline {
    /// A deadline `period` from now.
    pub fn new(period: Duration) -> IdleDeadline {
        let now = Instant::now();
        IdleDeadline {
            sleep: Box::pin(tokio::time::sleep_until(now + period)),
            period,
            quiet_since: now,
            active: false,
        }
    }

    /// Records activity: the deadline moves to `period` from now.
    #[inline]
    pub fn touch(&mut self) {
        if !self.active {
            self.active = true;
            let at = Instant::now() + self.step();
            self.sleep.as_mut().reset(at);
        }
    }

    /// How late the deadline may pass: an eighth of the period, at most
    /// 1 s. Computed when needed (once per quiet stretch), not stored: the
    /// deadline lives in every session's future.
    fn step(&self) -> Duration {
        (self.period / 8).min(Duration::from_secs(1))
    }

    /// `Ready` once `period` has passed without activity; otherwise the
    /// timer is (re-)armed for `cx`.
    pub fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            ready!(self.sleep.as_mut().poll(cx));
            let now = Instant::now();
            if std::mem::take(&mut self.active) {
                self.quiet_since = now;
            } else if now >= self.quiet_since + self.period {
                return Poll::Ready(());
            }
            self.sleep.as_mut().reset(self.quiet_since + self.period);
        }
    }
}

/// Set by the watchers' waker; passes the wake-up on to the task.
struct Flag {
    fired: AtomicBool,
    /// The task's waker: woken, never taken, when a watcher fires, so
    /// that the task stores it again only when its waker changes.
    task: Mutex<Option<Waker>>,
}

impl ArcWake for Flag {
    fn wake_by_ref(flag: &Arc<Self>) {
        flag.fired.store(true, Ordering::Release);
        let task = flag
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(task) = task {
            task.wake();
        }
    }
}

/// Waits for a future while watching rare events (timers, shutdown) that
/// are polled only when they woke the task.
///
/// The watchers must always be polled through [`Watch::until`]. A watcher
/// polled elsewhere (with the task's own waker) must be followed by
/// [`Watch::rearm`], or a later wake-up from it could go unnoticed.
pub struct Watch {
    /// The watchers' waker is made from `flag` when they are polled
    /// (`waker_ref`, no reference count taken) rather than kept here: it
    /// would be 16 more bytes in every session's future.
    flag: Arc<Flag>,
    /// A copy of the waker stored in `flag.task`, compared without a lock:
    /// an atomic registration per wait cost two compare-and-swaps per
    /// message, for a waker that never changes while the task lives.
    stored: Option<Waker>,
}

impl Default for Watch {
    fn default() -> Self {
        Watch::new()
    }
}

impl Watch {
    pub fn new() -> Watch {
        let flag = Arc::new(Flag {
            // The first wait must poll (and so register) every watcher.
            fired: AtomicBool::new(true),
            task: Mutex::new(None),
        });
        Watch { flag, stored: None }
    }

    /// Waits for `fut` unless `watchers` reports an event first. `fut` is
    /// polled first, so when both are ready `fut` wins.
    ///
    /// A plain future rather than an `async fn`: it lives inside every
    /// connection's task, and an `async fn` would hold `fut` twice (its
    /// argument and its pinned copy).
    pub fn until<F, W, E>(&mut self, fut: F, watchers: W) -> Until<'_, F, W>
    where
        F: Future,
        W: FnMut(&mut Context<'_>) -> Poll<E>,
    {
        Until {
            fut,
            watchers,
            watch: self,
        }
    }

    /// Makes the next [`Watch::until`] poll its watchers.
    pub fn rearm(&self) {
        self.flag.fired.store(true, Ordering::Release);
    }

    /// Stores `waker` for the watchers to wake, unless it is the one
    /// stored already (the usual case: a task's waker does not change).
    #[inline]
    fn register(&mut self, waker: &Waker) {
        if self.stored.as_ref().is_some_and(|w| w.will_wake(waker)) {
            return;
        }
        *self
            .flag
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(waker.clone());
        self.stored = Some(waker.clone());
    }
}

pin_project_lite::pin_project! {
    /// The future of [`Watch::until`].
    pub struct Until<'a, F, W> {
        #[pin]
        fut: F,
        watchers: W,
        watch: &'a mut Watch,
    }
}

impl<F, W, E> Future for Until<'_, F, W>
where
    F: Future,
    W: FnMut(&mut Context<'_>) -> Poll<E>,
{
    type Output = Result<F::Output, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(v) = this.fut.poll(cx) {
            return Poll::Ready(Ok(v));
        }
        let watch = &mut **this.watch;
        // Register before looking at the flag: a watcher firing in between
        // then wakes this task again.
        watch.register(cx.waker());
        // A load first: the flag is nearly always clear, and a plain load
        // costs nothing next to a locked swap on every wait (one per
        // message). A watcher that fires after the load wakes the task.
        if !watch.flag.fired.load(Ordering::Acquire)
            || !watch.flag.fired.swap(false, Ordering::AcqRel)
        {
            return Poll::Pending;
        }
        let waker = waker_ref(&watch.flag);
        match (this.watchers)(&mut Context::from_waker(&waker)) {
            Poll::Ready(event) => {
                // The watcher that fired is no longer registered: poll them
                // all again on the next wait.
                watch.rearm();
                Poll::Ready(Err(event))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn a_deadline_moved_later_fires_only_then() {
        let mut d = LazyDeadline::new(Instant::now() + Duration::from_secs(10));
        tokio::time::advance(Duration::from_secs(6)).await;
        d.set(Instant::now() + Duration::from_secs(10));
        let start = Instant::now();
        d.expired().await;
        assert_eq!(Instant::now() - start, Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn a_deadline_moved_earlier_fires_then() {
        let mut d = LazyDeadline::new(Instant::now() + Duration::from_secs(60));
        let start = Instant::now();
        d.set(start + Duration::from_secs(2));
        d.expired().await;
        assert_eq!(Instant::now() - start, Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_deadline_passes_a_period_after_the_last_touch_within_a_step() {
        use futures_util::FutureExt;
        let period = Duration::from_secs(16);
        let step = Duration::from_secs(1);
        let mut d = IdleDeadline::new(period);
        let start = Instant::now();
        poll_fn(|cx| d.poll_expired(cx)).await;
        assert_eq!(Instant::now() - start, period, "untouched: one period");

        let mut d = IdleDeadline::new(period);
        for _ in 0..60 {
            tokio::time::advance(Duration::from_millis(500)).await;
            d.touch();
            let expired = poll_fn(|cx| d.poll_expired(cx)).now_or_never();
            assert!(expired.is_none(), "expired while touched");
        }
        let last = Instant::now();
        poll_fn(|cx| d.poll_expired(cx)).await;
        let quiet = Instant::now() - last;
        assert!(
            quiet >= period && quiet <= period + step,
            "expired {quiet:?} after the last touch"
        );
    }

    /// Below 8 s the step is an eighth of the period, not 1 s.
    #[tokio::test(start_paused = true)]
    async fn a_short_idle_deadline_is_late_by_at_most_an_eighth() {
        let period = Duration::from_secs(2);
        let mut d = IdleDeadline::new(period);
        tokio::time::advance(Duration::from_millis(300)).await;
        d.touch();
        let last = Instant::now();
        poll_fn(|cx| d.poll_expired(cx)).await;
        let quiet = Instant::now() - last;
        assert!(
            quiet >= period && quiet <= period + period / 8,
            "expired {quiet:?} after the last touch"
        );
    }

    /// A watcher wakes the waker of the latest poll, also when the task
    /// polling the wait changed in between.
    #[test]
    fn a_watcher_wakes_the_waker_of_the_latest_poll() {
        use std::sync::atomic::AtomicUsize;
        struct Count(AtomicUsize);
        impl std::task::Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let (a, b) = (
            Arc::new(Count(AtomicUsize::new(0))),
            Arc::new(Count(AtomicUsize::new(0))),
        );
        let (wa, wb) = (Waker::from(a.clone()), Waker::from(b.clone()));
        let mut w = Watch::new();
        // The watcher: pending until `fire` holds a waker, then ready.
        let fire: Arc<Mutex<Option<Waker>>> = Arc::default();
        let f2 = fire.clone();
        let mut wait = Box::pin(w.until(std::future::pending::<()>(), move |cx| {
            *f2.lock().unwrap_or_else(PoisonError::into_inner) = Some(cx.waker().clone());
            Poll::<()>::Pending
        }));
        for _ in 0..3 {
            assert!(
                wait.as_mut()
                    .poll(&mut Context::from_waker(&wa))
                    .is_pending()
            );
        }
        assert!(
            wait.as_mut()
                .poll(&mut Context::from_waker(&wb))
                .is_pending()
        );
        let watcher = fire.lock().unwrap_or_else(PoisonError::into_inner).clone();
        watcher.expect("the watchers were polled").wake();
        assert_eq!(b.0.load(Ordering::SeqCst), 1, "the latest task is woken");
        assert_eq!(a.0.load(Ordering::SeqCst), 0, "not the earlier one");
        // And again, without any poll in between: the waker stays stored.
        let watcher = fire.lock().unwrap_or_else(PoisonError::into_inner).clone();
        watcher.expect("still there").wake();
        assert_eq!(b.0.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn watched_deadline_interrupts_a_wait_and_ready_io_wins() {
        let mut w = Watch::new();
        let mut d = LazyDeadline::new(Instant::now() + Duration::from_secs(5));
        for _ in 0..100 {
            let r = w.until(async { 1 }, |cx| d.poll_expired(cx)).await;
            assert_eq!(r, Ok(1));
        }
        let start = Instant::now();
        let r = w
            .until(std::future::pending::<()>(), |cx| d.poll_expired(cx))
            .await;
        assert_eq!(r, Err(()));
        assert_eq!(Instant::now() - start, Duration::from_secs(5));
    }
}
