//! One worker per connection slot: it opens its connection, waits at the
//! start gate, runs the loop of the run's mode and hands back what it
//! measured. Slots are spread over the targets round-robin.

use std::time::Instant;

use super::control::{Ctl, Times};
use super::exchange::{Echo, Load};
use super::link::Link;
use super::payload::Requests;
use super::reply::ReplyReader;
use super::tally::Tally;
use super::transport::{Conn, Connector};

/// Which connection this worker is: its number over the run (for ramp-up
/// and the open-loop schedule) and its target.
#[derive(Debug, Clone, Copy)]
pub struct Slot {
    pub index: usize,
    pub target: usize,
}

/// What a worker hands back when it ends.
pub struct Outcome {
    pub target: usize,
    pub tally: Tally,
    /// When its last measured batch completed.
    pub last: Option<Instant>,
    /// When its first connection was open (`None`: never).
    pub first_open: Option<Instant>,
    /// Its connection, kept open until the run has taken its last sample
    /// of the server (closing it is not part of the measured work).
    pub keep: Option<Box<dyn Send>>,
}

impl Outcome {
    pub fn new<C: Conn>(
        slot: Slot,
        mut tally: Tally,
        last: Option<Instant>,
        first_open: Option<Instant>,
        conn: Option<C>,
    ) -> Outcome {
        tally.flush();
        Outcome {
            target: slot.target,
            tally,
            last,
            first_open,
            keep: conn.map(|c| Box::new(c) as Box<dyn Send>),
        }
    }
}

/// The request-mode payload of a worker, or `None` for echo.
pub fn requests<C: Conn>(ctl: &Ctl, per_batch: usize) -> Option<(Requests, ReplyReader)> {
    ctl.request().map(|text| {
        (
            Requests::new(text, C::FRAMING, per_batch),
            ReplyReader::new(C::FRAMING, ctl.greeting()),
        )
    })
}

/// What a closed-loop or connect-rate worker sends and checks.
pub fn load<C: Conn>(ctl: &Ctl, per_batch: usize) -> Load {
    match requests::<C>(ctl, per_batch) {
        Some((requests, rx)) => Load::Requests { requests, rx },
        None => Load::Echo(Echo::new(ctl.load.size, per_batch, ctl.content())),
    }
}

/// Opens the worker's connection before the gate (unless `--ramp-up`
/// opens it later), then waits at the gate. `None`: the run ended first.
pub async fn setup<K: Connector>(
    connector: &K,
    ctl: &Ctl,
    rx: Option<&mut ReplyReader>,
    tally: &mut Tally,
) -> (Link<K::Conn>, Option<Times>) {
    let mut link = Link::new(None, Instant::now());
    if ctl.load.ramp_up.is_none() {
        link.open(connector, ctl.timeout(), rx, tally).await;
    }
    let times = ctl.arrive(link.conn.is_some()).await;
    (link, times)
}

/// Waits until slot `i` may open its first connection (`--ramp-up`).
pub async fn ramp(ctl: &Ctl, times: &Times, slot: Slot) {
    if ctl.load.ramp_up.is_some() {
        let at = ctl.open_at(times, slot.index);
        tokio::select! {
            _ = tokio::time::sleep_until(at.into()) => {}
            _ = ctl.stop.cancelled() => {}
        }
    }
}
