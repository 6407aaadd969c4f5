//! One batch on one connection, written once for every transport: send
//! `--pipeline` messages, take back as many replies, check each and count
//! it. Echo replies are compared with what was sent; request-mode replies
//! must be good lines ([`super::reply`]).
//!
//! Nothing is allocated per message: the payload is a slice of a random
//! pattern made once per worker and the receive buffer is reused. A read
//! that completes several messages verifies them with one comparison and
//! records them in one histogram update.

use std::io;
use std::time::Instant;

use super::link::{Deadline, Expired};
use super::payload::{Pattern, Requests};
use super::reply::{Broken, Got, ReplyReader, take_reply};
use super::settings::Content;
use super::tally::Tally;
use super::transport::{Conn, Framing};

/// One batch's timing.
pub struct Turn<'a> {
    /// When the batch started; latency is measured from here.
    pub t0: Instant,
    /// Outside warm-up: verified messages are counted and recorded.
    pub measured: bool,
    /// The connection's [`super::link::Link::first`]: taken (and recorded)
    /// when the first reply byte arrives.
    pub first: &'a mut Option<Instant>,
}

impl Turn<'_> {
    #[inline]
    fn got_bytes(&mut self, tally: &mut Tally) {
        if let Some(since) = self.first.take() {
            tally.first_byte(since.elapsed());
        }
    }
}

/// What one closed-loop or connect-rate worker sends and checks: echoed
/// slices of a random pattern, or the fixed request of `--request`.
pub enum Load {
    Echo(Echo),
    Requests { requests: Requests, rx: ReplyReader },
}

/// Echo buffers for batches of up to `per_batch` messages of `size` bytes.
pub struct Echo {
    pattern: Pattern,
    rbuf: Vec<u8>,
    size: usize,
    batch: u64,
}

impl Echo {
    pub fn new(size: usize, per_batch: usize, content: Content) -> Echo {
        Echo {
            pattern: Pattern::new(size * per_batch, content),
            // One byte longer than a batch: a read that completes the batch
            // returns less than asked for, so tokio knows the socket is
            // drained and does not try one more `recv` (EAGAIN) per batch.
            rbuf: vec![0u8; size * per_batch + 1],
            size,
            batch: 0,
        }
    }
}

impl Load {
    pub fn reader(&mut self) -> Option<&mut ReplyReader> {
        match self {
            Load::Echo(_) => None,
            Load::Requests { rx, .. } => Some(rx),
        }
    }

    /// One batch of `count` messages. Every verified message is counted in
    /// `tally` (and its latency recorded) when the turn is measured; every
    /// failure is counted in `tally.errors` either way.
    pub async fn exchange<C: Conn>(
        &mut self,
        conn: &mut C,
        count: usize,
        deadline: &mut Deadline,
        turn: Turn<'_>,
        tally: &mut Tally,
    ) -> Result<(), Broken> {
        match self {
            Load::Echo(e) => e.exchange(conn, count, deadline, turn, tally).await,
            Load::Requests { requests, rx } => {
                let batch = requests.batch(count);
                requests_exchange(conn, batch, count, rx, deadline, turn, tally).await
            }
        }
    }
}

/// Sends a batch within the deadline; a failure is counted.
async fn send<C: Conn>(
    conn: &mut C,
    data: &[u8],
    count: usize,
    deadline: &mut Deadline,
    tally: &mut Tally,
) -> Result<(), Broken> {
    let sent = deadline
        .until(conn.send(data, count))
        .await
        .unwrap_or_else(|Expired| Err(io::Error::from(io::ErrorKind::TimedOut)));
    sent.map_err(|e| {
        tally.errors.count_io(&e);
        Broken::Drop
    })
}

/// After a timeout: what a message transport can do, or drop.
fn resync<C: Conn>(conn: &mut C) -> Broken {
    if conn.resync() {
        Broken::Continue
    } else {
        Broken::Drop
    }
}

impl Echo {
    async fn exchange<C: Conn>(
        &mut self,
        conn: &mut C,
        count: usize,
        deadline: &mut Deadline,
        mut turn: Turn<'_>,
        tally: &mut Tally,
    ) -> Result<(), Broken> {
        let size = self.size;
        let expect = self.pattern.batch(self.batch, count * size);
        self.batch += 1;
        let rbuf = &mut self.rbuf;
        deadline.arm(turn.t0);
        send(conn, expect, count, deadline, tally).await?;
        let mut done = 0;
        match C::FRAMING {
            Framing::Stream => {
                let total = expect.len();
                let mut got = 0;
                while got < total {
                    let Ok(r) = deadline.until(conn.recv(&mut rbuf[got..])).await else {
                        tally.errors.timeout += (count - done) as u64;
                        return Err(resync(conn));
                    };
                    match r {
                        Ok(0) => {
                            tally.errors.short_read += 1;
                            return Err(Broken::Drop);
                        }
                        Ok(n) => got += n,
                        Err(e) => {
                            tally.errors.count_io(&e);
                            return Err(Broken::Drop);
                        }
                    }
                    turn.got_bytes(tally);
                    let complete = got.min(total) / size;
                    if complete > done {
                        let latency = turn.t0.elapsed();
                        // Only a batch with a mismatch is checked message
                        // by message.
                        let range = done * size..complete * size;
                        let good = if rbuf[range.clone()] == expect[range] {
                            complete - done
                        } else {
                            (done..complete)
                                .filter(|m| {
                                    let r = m * size..(m + 1) * size;
                                    rbuf[r.clone()] == expect[r]
                                })
                                .count()
                        };
                        tally.errors.mismatch += (complete - done - good) as u64;
                        if turn.measured && good > 0 {
                            tally.messages(latency, good as u64);
                        }
                        done = complete;
                    }
                    if got > total {
                        // More bytes than were sent: the stream is out of step.
                        tally.errors.mismatch += 1;
                        return Err(Broken::Drop);
                    }
                }
            }
            Framing::Message => {
                // One byte more than a message so that a longer reply is seen.
                let window = &mut rbuf[..size + 1];
                while done < count {
                    let r = if done + 1 == count {
                        deadline.until(conn.recv_last(window)).await
                    } else {
                        deadline.until(conn.recv(window)).await
                    };
                    let Ok(r) = r else {
                        tally.errors.timeout += (count - done) as u64;
                        return Err(resync(conn));
                    };
                    match r {
                        Ok(n) => {
                            turn.got_bytes(tally);
                            if n != size || window[..n] != expect[done * size..(done + 1) * size] {
                                tally.errors.mismatch += 1;
                            } else if turn.measured {
                                tally.messages(turn.t0.elapsed(), 1);
                            }
                            done += 1;
                        }
                        Err(e) => {
                            tally.errors.count_io(&e);
                            return Err(Broken::Drop);
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// Request mode: sends `count` requests and takes one reply for each, in
/// order. Good replies are counted (latency and bytes) when measured; an
/// empty or `ERR` reply is a `bad_reply`.
async fn requests_exchange<C: Conn>(
    conn: &mut C,
    batch: &[u8],
    count: usize,
    rx: &mut ReplyReader,
    deadline: &mut Deadline,
    mut turn: Turn<'_>,
    tally: &mut Tally,
) -> Result<(), Broken> {
    deadline.arm(turn.t0);
    send(conn, batch, count, deadline, tally).await?;
    for done in 0..count {
        let Ok(r) = deadline.until(rx.next(conn)).await else {
            tally.errors.timeout += (count - done) as u64;
            return Err(resync(conn));
        };
        if matches!(r, Ok(Got::Reply { .. } | Got::TooLong)) {
            turn.got_bytes(tally);
        }
        take_reply(r, turn.measured.then_some(turn.t0), tally)?;
    }
    if rx.pending() {
        // More than one reply to a request: the stream is out of step.
        tally.errors.bad_reply += 1;
        return Err(Broken::Drop);
    }
    Ok(())
}
