//! The state every worker of one run shares: the settings it runs by, the
//! start gate, the clock, the `-n` budget, the stop signal and the live
//! progress counters.
//!
//! Workers open their connections first and then wait at the gate; the run
//! opens it (and sets the clock) once every worker has arrived, so that
//! connection setup is never part of the measured window, unless
//! `--ramp-up` makes opening connections part of the load.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use super::settings::{Content, Load, Payload};
use super::tally::{Sink, Tally, lock};

/// The clock of a run, set when the gate opens.
#[derive(Debug, Clone, Copy)]
pub struct Times {
    /// The gate opened: ramp-up and open-loop schedules count from here.
    pub start: Instant,
    /// Batches that start before this are warm-up: verified, not recorded.
    pub measure_from: Instant,
    /// No batch starts after this (`-d`); `None` with `-n`.
    pub end: Option<Instant>,
}

/// Counters behind the live progress line.
#[derive(Default)]
pub struct Progress {
    pub messages: AtomicU64,
    pub errors: AtomicU64,
    pub connects: AtomicU64,
}

/// Settings and shared state of one run, read by every worker.
pub struct Control {
    pub load: Load,
    /// Set on Ctrl-C (or when no connection could be opened): workers
    /// finish their batch and stop.
    pub stop: CancellationToken,
    /// Live counters for the progress line (only when it is shown).
    pub progress: Option<Progress>,
    /// The round-trip histogram of each target, shared by its workers.
    sinks: Vec<Sink>,
    claimed: AtomicU64,
    arrived: AtomicUsize,
    opened: AtomicUsize,
    all_arrived: Notify,
    gate: watch::Sender<Option<Times>>,
}

impl Control {
    pub fn new(load: Load, progress: bool) -> Control {
        Control {
            stop: CancellationToken::new(),
            progress: progress.then(Progress::default),
            sinks: load.targets.iter().map(|_| Sink::default()).collect(),
            claimed: AtomicU64::new(0),
            arrived: AtomicUsize::new(0),
            opened: AtomicUsize::new(0),
            all_arrived: Notify::new(),
            gate: watch::channel(None).0,
            load,
        }
    }

    /// A tally for a worker of `target`.
    pub fn tally(&self, target: usize) -> Tally {
        match self.sinks.get(target) {
            Some(sink) => Tally::with_sink(sink.clone()),
            None => Tally::new(),
        }
    }

    /// The round trips the workers of `target` recorded.
    pub fn take_rtt(&self, target: usize) -> Option<hdrhistogram::Histogram<u64>> {
        self.sinks.get(target).and_then(|s| lock(s).take())
    }

    /// The request text of `--request`, if any.
    pub fn request(&self) -> Option<&str> {
        match &self.load.payload {
            Payload::Request { text, .. } => Some(text),
            Payload::Echo { .. } => None,
        }
    }

    pub fn greeting(&self) -> bool {
        matches!(self.load.payload, Payload::Request { greeting: true, .. })
    }

    /// What echo payloads are made of.
    pub fn content(&self) -> Content {
        match self.load.payload {
            Payload::Echo { content } => content,
            Payload::Request { .. } => Content::Text,
        }
    }

    pub fn timeout(&self) -> Duration {
        self.load.timeout
    }

    /// A worker is ready (its connection `opened` or not) and waits for
    /// the gate; `None` when the run ends before it opens.
    pub async fn arrive(&self, opened: bool) -> Option<Times> {
        if opened {
            self.opened.fetch_add(1, Ordering::AcqRel);
        }
        if self.arrived.fetch_add(1, Ordering::AcqRel) + 1 == self.load.connections {
            self.all_arrived.notify_one();
        }
        let mut rx = self.gate.subscribe();
        tokio::select! {
            r = rx.wait_for(Option::is_some) => r.ok().and_then(|t| *t),
            _ = self.stop.cancelled() => None,
        }
    }

    /// Waits until every worker has arrived at the gate.
    pub async fn all_arrived(&self) {
        while self.arrived.load(Ordering::Acquire) < self.load.connections {
            self.all_arrived.notified().await;
        }
    }

    /// Connections open at the gate.
    pub fn opened(&self) -> usize {
        self.opened.load(Ordering::Acquire)
    }

    /// Opens the gate: the clock starts now.
    pub fn open_gate(&self) -> Times {
        let start = Instant::now();
        let measure_from = start + self.load.warmup;
        let times = Times {
            start,
            measure_from,
            end: self
                .load
                .messages
                .is_none()
                .then(|| measure_from + self.load.duration),
        };
        self.gate.send_replace(Some(times));
        times
    }

    /// How many messages the next batch may carry, or `None` when the run is
    /// over. Warm-up batches are always full and never use up the budget.
    pub fn claim(&self, t: &Times, now: Instant, want: usize) -> Option<usize> {
        if self.stop.is_cancelled() {
            return None;
        }
        if now < t.measure_from {
            return Some(want);
        }
        if t.end.is_some_and(|end| now >= end) {
            return None;
        }
        match self.load.messages {
            None => Some(want),
            Some(total) => {
                let before = self.claimed.fetch_add(want as u64, Ordering::Relaxed);
                (before < total).then(|| want.min((total - before) as usize))
            }
        }
    }

    /// Adds to the progress counters (when the progress line is shown).
    pub fn report(&self, messages: u64, errors: u64, connects: u64) {
        if let Some(p) = &self.progress {
            p.messages.fetch_add(messages, Ordering::Relaxed);
            p.errors.fetch_add(errors, Ordering::Relaxed);
            p.connects.fetch_add(connects, Ordering::Relaxed);
        }
    }

    /// When connection slot `i` opens its first connection: at once, or
    /// evenly spread over `--ramp-up`.
    pub fn open_at(&self, t: &Times, i: usize) -> Instant {
        match self.load.ramp_up {
            Some(ramp) => t.start + ramp.mul_f64(i as f64 / self.load.connections as f64),
            None => t.start,
        }
    }
}

/// Shared by the workers of a run.
pub type Ctl = Arc<Control>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::settings::{Handshake, Mode};

    pub fn load(messages: Option<u64>) -> Load {
        Load {
            targets: Vec::new(),
            mode: Mode::Closed,
            connections: 1,
            duration: Duration::from_secs(1),
            messages,
            size: 8,
            pipeline: 4,
            warmup: Duration::ZERO,
            timeout: Duration::from_secs(1),
            rate: None,
            rate_per_conn: None,
            ramp_up: Some(Duration::from_secs(2)),
            conn_lifetime: None,
            payload: Payload::Echo {
                content: Content::Binary,
            },
            handshake: Handshake::default(),
            ca: None,
            insecure: false,
            server_pid: None,
        }
    }

    #[test]
    fn the_budget_is_shared_and_exact() {
        let ctl = Control::new(load(Some(10)), false);
        let t = ctl.open_gate();
        let now = Instant::now();
        assert_eq!(ctl.claim(&t, now, 4), Some(4));
        assert_eq!(ctl.claim(&t, now, 4), Some(4));
        assert_eq!(ctl.claim(&t, now, 4), Some(2));
        assert_eq!(ctl.claim(&t, now, 4), None);
    }

    #[tokio::test]
    async fn the_gate_opens_once_everyone_arrived() {
        let ctl = Arc::new(Control::new(load(None), false));
        let worker = tokio::spawn({
            let ctl = ctl.clone();
            async move { ctl.arrive(true).await }
        });
        ctl.all_arrived().await;
        let t = ctl.open_gate();
        let seen = worker.await.ok().flatten().map(|t| t.start);
        assert_eq!(seen, Some(t.start));
        assert_eq!(ctl.open_at(&t, 0), t.start);
        assert!(t.end.is_some());
        assert_eq!(ctl.opened(), 1);
    }
}
