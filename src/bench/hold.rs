//! `--hold N`: idle connections, for measuring a server's memory per
//! connection.

use std::sync::Arc;
use std::time::Instant;

use super::control::Ctl;
use super::exchange::{Echo, Load, Turn};
use super::link::{Deadline, Link};
use super::transport::Connector;
use super::worker::{Outcome, Slot};

/// `--hold N`: open the connection, echo one verified message on it (so the
/// server has really accepted and served it), then keep it idle until `-d`
/// passes or Ctrl-C.
pub async fn run<K: Connector>(connector: Arc<K>, ctl: Ctl, slot: Slot) -> Outcome {
    let mut tally = ctl.tally(slot.target);
    let mut link = Link::new(None, Instant::now());
    if link
        .open(&*connector, ctl.timeout(), None, &mut tally)
        .await
        && let Link {
            conn: Some(c),
            first,
            ..
        } = &mut link
    {
        let mut echo = Load::Echo(Echo::new(ctl.load.size, 1, ctl.content()));
        let mut deadline = Deadline::new(ctl.timeout());
        let turn = Turn {
            t0: Instant::now(),
            measured: true,
            first,
        };
        if echo
            .exchange(c, 1, &mut deadline, turn, &mut tally)
            .await
            .is_err()
        {
            link.conn = None;
        }
    }
    let opened = link.conn.is_some();
    let Some(times) = ctl.arrive(opened).await else {
        return Outcome::new(slot, tally, None, None, link.conn);
    };
    if let Some(end) = times.end {
        tokio::select! {
            _ = tokio::time::sleep_until(end.into()) => {}
            _ = ctl.stop.cancelled() => {}
        }
    }
    let first_open = opened.then_some(times.start);
    Outcome::new(slot, tally, Some(Instant::now()), first_open, link.conn)
}
