//! The closed loop (the default): each connection keeps `--pipeline`
//! messages in flight, batch after batch, until the run ends. A broken
//! connection is reopened; `--conn-lifetime` retires a connection and opens
//! a new one in its place; `--ramp-up` delays the first open.

use std::sync::Arc;
use std::time::Instant;

use super::control::Ctl;
use super::exchange::Turn;
use super::link::Deadline;
use super::reply::Broken;
use super::transport::Connector;
use super::worker::{self, Outcome, Slot};

pub async fn run<K: Connector>(connector: Arc<K>, ctl: Ctl, slot: Slot) -> Outcome {
    let pipeline = ctl.load.pipeline;
    let mut load = worker::load::<K::Conn>(&ctl, pipeline);
    let mut tally = ctl.tally(slot.target);
    let (mut link, times) = worker::setup(&*connector, &ctl, load.reader(), &mut tally).await;
    let Some(times) = times else {
        return Outcome::new(slot, tally, None, None, link.conn);
    };
    let mut first_open = link.conn.as_ref().map(|_| times.start);
    worker::ramp(&ctl, &times, slot).await;
    let (timeout, lifetime) = (ctl.timeout(), ctl.load.conn_lifetime);
    let mut deadline = Deadline::new(timeout);
    let mut last = None;
    let mut measured = false;
    loop {
        // One clock read per batch: the end of the last batch is the start
        // of this one.
        let now = Instant::now();
        if measured {
            last = Some(now);
        }
        let Some(count) = ctl.claim(&times, now, pipeline) else {
            break;
        };
        measured = now >= times.measure_from;
        let mut t0 = now;
        if link.due_to_retire(now, lifetime) {
            link.retire(timeout).await;
        }
        if link.conn.is_none() {
            let (errors, connects) = (tally.errors.total(), tally.connects);
            let ok = link
                .open(&*connector, timeout, load.reader(), &mut tally)
                .await;
            ctl.report(0, tally.errors.total() - errors, tally.connects - connects);
            if !ok {
                if link.back_off().await {
                    continue;
                }
                break;
            }
            t0 = Instant::now();
            first_open.get_or_insert(t0);
        }
        let Some(c) = link.conn.as_mut() else {
            continue;
        };
        let (messages, errors) = (tally.messages, tally.errors.total());
        let turn = Turn {
            t0,
            measured,
            first: &mut link.first,
        };
        let r = load
            .exchange(c, count, &mut deadline, turn, &mut tally)
            .await;
        if r == Err(Broken::Drop) {
            link.conn = None;
        }
        ctl.report(tally.messages - messages, tally.errors.total() - errors, 0);
    }
    Outcome::new(slot, tally, last, first_open, link.conn)
}
