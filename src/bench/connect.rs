//! `--connect-rate`: connect, one message (echo or request), close, again.
//! Connections opened during `--warmup` are not counted; their errors are.

use std::sync::Arc;
use std::time::Instant;

use super::control::Ctl;
use super::exchange::Turn;
use super::link::{Deadline, Link};
use super::tally::Tally;
use super::transport::Connector;
use super::worker::{self, Outcome, Slot};

pub async fn run<K: Connector>(connector: Arc<K>, ctl: Ctl, slot: Slot) -> Outcome {
    let mut load = worker::load::<K::Conn>(&ctl, 1);
    let mut tally = ctl.tally(slot.target);
    let Some(times) = ctl.arrive(false).await else {
        return Outcome::new::<K::Conn>(slot, tally, None, None, None);
    };
    let timeout = ctl.timeout();
    let mut deadline = Deadline::new(timeout);
    let mut link = Link::new(None, Instant::now());
    // Warm-up connections are counted here, and only their errors kept.
    let mut warm = Tally::new();
    let mut last = None;
    let mut first_open = None;
    loop {
        let now = Instant::now();
        let Some(count) = ctl.claim(&times, now, 1) else {
            break;
        };
        let measured = now >= times.measure_from;
        let (messages, errors, connects) = (tally.messages, tally.errors.total(), tally.connects);
        warm.errors = Default::default();
        let t = if measured { &mut tally } else { &mut warm };
        if link.open(&*connector, timeout, load.reader(), t).await
            && let Some(c) = link.conn.as_mut()
        {
            let t0 = Instant::now();
            first_open.get_or_insert(t0);
            let turn = Turn {
                t0,
                measured,
                first: &mut link.first,
            };
            let _ = load.exchange(c, count, &mut deadline, turn, t).await;
        }
        link.conn = None;
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
    Outcome::new::<K::Conn>(slot, tally, last, first_open, None)
}
