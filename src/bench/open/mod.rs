//! The open loop (`--rate`, `--rate-per-conn`) of one connection. Messages
//! are sent on a fixed schedule whatever the replies do; a wake-up sends
//! every message whose time has come (so a coarse timer does not lower the
//! rate), and each reply's latency is measured from its message's intended
//! send time, so a stalled server is charged for the messages it delayed
//! (no coordinated omission). Replies are matched to messages in order
//! (request mode: strictly in order, one reply per request).

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod replies;

use crate::bench::control::{Ctl, Times};
use crate::bench::link::{Deadline, Expired, Link};
use crate::bench::payload::{Pattern, Requests};
use crate::bench::reply::{Got, ReplyReader};
use crate::bench::tally::Tally;
use crate::bench::transport::{Conn, Connector};
use crate::bench::worker::{self, Outcome, Slot};

/// When the messages of one connection are due: message `k` at
/// `first + k × every`.
#[derive(Debug, Clone, Copy)]
struct Schedule {
    first: Instant,
    every: Duration,
}

impl Schedule {
    fn due(&self, k: u64) -> Instant {
        self.first + self.every.mul_f64(k as f64)
    }
}

/// A message sent and not answered yet.
struct Sent {
    index: u64,
    due: Instant,
    at: Instant,
}

/// What one receive took off the connection.
enum Received {
    /// Echo: bytes of a stream, or one datagram or message.
    Bytes(io::Result<usize>),
    /// Request mode: one whole reply.
    Reply(io::Result<Got>),
}

/// What ended a wait.
enum Woke {
    Received(Received),
    /// The next message is due.
    Due,
    /// The oldest reply is overdue.
    Expired,
}

/// One connection's open loop.
pub struct OpenLoop<K: Connector> {
    connector: Arc<K>,
    ctl: Ctl,
    times: Times,
    schedule: Schedule,
    pattern: Pattern,
    requests: Option<Requests>,
    rx: Option<ReplyReader>,
    /// Stream replies are read in chunks of up to 16 messages; a partial
    /// message stays at the front of the buffer until the rest arrives.
    rbuf: Vec<u8>,
    held: usize,
    tally: Tally,
    deadline: Deadline,
    link: Link<K::Conn>,
    inflight: VecDeque<Sent>,
    next: u64,
    sending: bool,
    last: Option<Instant>,
    first_open: Option<Instant>,
}

impl<K: Connector> OpenLoop<K> {
    pub async fn run(connector: Arc<K>, ctl: Ctl, slot: Slot) -> Outcome {
        let (requests, mut rx) = worker::requests::<K::Conn>(&ctl, 1).unzip();
        let mut tally = ctl.tally(slot.target);
        let (link, times) = worker::setup(&*connector, &ctl, rx.as_mut(), &mut tally).await;
        let Some(times) = times else {
            return Outcome::new(slot, tally, None, None, link.conn);
        };
        worker::ramp(&ctl, &times, slot).await;
        // Connection i sends at its start + (i + k·c) / rate: the
        // connections take turns, so the messages are evenly spaced overall.
        let rate = ctl.load.rate.unwrap_or(1.0);
        let c = ctl.load.connections as f64;
        let schedule = Schedule {
            first: ctl.open_at(&times, slot.index)
                + Duration::from_secs_f64(slot.index as f64 / rate),
            every: Duration::from_secs_f64(c / rate),
        };
        let size = ctl.load.size;
        let mut this = OpenLoop {
            pattern: Pattern::new(size, ctl.content()),
            rbuf: vec![0u8; size * 17 + 1],
            held: 0,
            deadline: Deadline::new(ctl.timeout()),
            first_open: link.conn.as_ref().map(|_| times.start),
            connector,
            ctl,
            times,
            schedule,
            requests,
            rx,
            tally,
            link,
            inflight: VecDeque::new(),
            next: 0,
            sending: true,
            last: None,
        };
        this.drive().await;
        Outcome::new(slot, this.tally, this.last, this.first_open, this.link.conn)
    }

    async fn drive(&mut self) {
        let (timeout, lifetime) = (self.ctl.timeout(), self.ctl.load.conn_lifetime);
        loop {
            let (messages, errors) = (self.tally.messages, self.tally.errors.total());
            if self.link.conn.is_none() {
                if !self.sending || !self.reconnect().await {
                    break;
                }
                continue;
            }
            let retiring = self.link.due_to_retire(Instant::now(), lifetime);
            if retiring && self.inflight.is_empty() {
                self.link.retire(timeout).await;
                continue;
            }
            if !retiring && !self.send_due().await {
                self.lose_inflight();
            }
            if self.link.conn.is_some() {
                if !self.sending && self.inflight.is_empty() {
                    break;
                }
                match self.wait(retiring).await {
                    Woke::Due => {}
                    Woke::Expired => self.expired(),
                    Woke::Received(r) => self.received(r),
                }
            }
            let (m, e) = (
                self.tally.messages - messages,
                self.tally.errors.total() - errors,
            );
            self.ctl.report(m, e, 0);
        }
    }

    /// Opens a new connection; false when the worker should give up.
    async fn reconnect(&mut self) -> bool {
        let (errors, connects) = (self.tally.errors.total(), self.tally.connects);
        let timeout = self.ctl.timeout();
        let ok = self
            .link
            .open(&*self.connector, timeout, self.rx.as_mut(), &mut self.tally)
            .await;
        let (e, c) = (
            self.tally.errors.total() - errors,
            self.tally.connects - connects,
        );
        self.ctl.report(0, e, c);
        if ok {
            self.held = 0;
            self.first_open.get_or_insert_with(Instant::now);
            return true;
        }
        self.link.back_off().await
    }

    /// Sends every message that is due by now; false when a send failed.
    async fn send_due(&mut self) -> bool {
        let Some(c) = self.link.conn.as_mut() else {
            return false;
        };
        while self.sending {
            let due = self.schedule.due(self.next);
            let now = Instant::now();
            if due > now {
                break;
            }
            if self.ctl.claim(&self.times, due, 1).is_none() {
                self.sending = false;
                break;
            }
            self.deadline.arm(now);
            let message = match &self.requests {
                Some(requests) => requests.batch(1),
                None => self.pattern.batch(self.next, self.ctl.load.size),
            };
            let sent = self
                .deadline
                .until(c.send(message, 1))
                .await
                .unwrap_or_else(|Expired| Err(io::Error::from(io::ErrorKind::TimedOut)));
            if let Err(e) = sent {
                self.tally.errors.count_io(&e);
                return false;
            }
            self.inflight.push_back(Sent {
                index: self.next,
                due,
                at: now,
            });
            self.next += 1;
        }
        true
    }

    /// Waits for a reply, the next message's time or the oldest reply's
    /// deadline, whichever comes first. While retiring nothing more is sent.
    async fn wait(&mut self, retiring: bool) -> Woke {
        let OpenLoop {
            link,
            rx,
            rbuf,
            held,
            deadline,
            inflight,
            schedule,
            next,
            sending,
            ctl,
            ..
        } = self;
        let Some(c) = link.conn.as_mut() else {
            return Woke::Due;
        };
        if let Some(oldest) = inflight.front() {
            deadline.arm(oldest.at);
        }
        let wake = tokio::time::Instant::from_std(schedule.due(*next));
        let scheduled = *sending && !retiring;
        tokio::select! {
            biased;
            r = receive(c, rx.as_mut(), &mut rbuf[*held..], inflight.len() == 1) => Woke::Received(r),
            _ = tokio::time::sleep_until(wake), if scheduled => Woke::Due,
            _ = deadline.expired(), if !inflight.is_empty() => Woke::Expired,
            _ = ctl.stop.cancelled(), if !scheduled && inflight.is_empty() => Woke::Due,
        }
    }

    /// Every message in flight is lost with the connection.
    fn lose_inflight(&mut self) {
        self.tally.errors.timeout += self.inflight.len() as u64;
        self.inflight.clear();
        self.link.conn = None;
    }

    fn expired(&mut self) {
        self.tally.errors.timeout += self.inflight.len() as u64;
        self.inflight.clear();
        self.held = 0;
        if let Some(c) = self.link.conn.as_mut()
            && !c.resync()
        {
            self.link.conn = None;
        }
    }

    /// Counts a reply to `s` (of `bytes` reply bytes in request mode).
    fn measure(&mut self, s: &Sent, now: Instant, bytes: usize) {
        if s.due >= self.times.measure_from {
            self.tally.messages(now.saturating_duration_since(s.due), 1);
            self.tally.bytes += bytes as u64;
            self.last = Some(now);
        }
    }

    /// The connection is gone; `lost` of the messages in flight are
    /// counted as lost besides the error already counted.
    fn broken(&mut self, lost: usize) {
        self.tally.errors.timeout += lost as u64;
        self.inflight.clear();
        self.link.conn = None;
    }
}

/// One receive: into `buf` (echo) or one reply through `rx` (request
/// mode); `last` when one message is in flight. Cancel-safe like both.
async fn receive<C: Conn>(
    c: &mut C,
    rx: Option<&mut ReplyReader>,
    buf: &mut [u8],
    last: bool,
) -> Received {
    match rx {
        Some(rx) => Received::Reply(rx.next(c).await),
        None if last => Received::Bytes(c.recv_last(buf).await),
        None => Received::Bytes(c.recv(buf).await),
    }
}
