//! `counter`: answers every request with the number of clients that have
//! connected since the server started, over all transports (the classic
//! concurrent server with a client counter).
//!
//! With `--counter-store`, the count is that of every instance sharing the
//! store. The server counts each client in the store as it admits it (one
//! `INCR`) and keeps the highest count the store has answered with; a
//! request is answered from that, without a round trip of its own, or with
//! `ERR counter store unavailable` while the store does not answer. The
//! service stays free of I/O: it formats the number it is given.

use std::io::Write;
use std::sync::Arc;

use super::session::{LineService, OneReply, Session};
use super::stats::Stats;

/// The reply while the store that keeps the count does not answer.
pub const UNAVAILABLE: &str = "ERR counter store unavailable";

pub struct Counter {
    stats: Arc<Stats>,
}

impl Counter {
    pub fn new(stats: Arc<Stats>) -> Counter {
        Counter { stats }
    }
}

impl LineService for Counter {
    fn name(&self) -> &'static str {
        "counter"
    }

    fn session(&self, _ordinal: u64) -> Box<dyn Session> {
        Box::new(CounterSession {
            stats: Some(self.stats.clone()),
            reply: OneReply::default(),
        })
    }

    /// Answers `ERR counter store unavailable` for as long as it lasts: the
    /// count it would be given once the store is back includes others but
    /// not this client, and was given to the last of them already.
    fn uncounted_session(&self, _ordinal: u64) -> Box<dyn Session> {
        Box::new(CounterSession {
            stats: None,
            reply: OneReply::default(),
        })
    }
}

struct CounterSession {
    /// `None` for a client the server could not count.
    stats: Option<Arc<Stats>>,
    reply: OneReply,
}

impl Session for CounterSession {
    fn request(&mut self, _request: &[u8]) {
        self.reply.queue();
    }

    fn next_reply(&mut self, out: &mut Vec<u8>) -> bool {
        let stats = &self.stats;
        self.reply
            .pull(out, |out| match stats.as_ref().and_then(|s| s.count()) {
                Some(n) => {
                    let _ = write!(out, "{n}");
                }
                None => out.extend_from_slice(UNAVAILABLE.as_bytes()),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::session::testing::ask;

    #[test]
    fn reports_clients_so_far() {
        let stats = Stats::new();
        let c = Counter::new(stats.clone());
        let mut s = c.session(0);
        assert_eq!(ask(s.as_mut(), ""), vec!["0"]);
        stats.client_connected();
        stats.client_connected();
        assert_eq!(ask(s.as_mut(), "anything"), vec!["2"]);
    }

    #[test]
    fn a_shared_count_is_an_error_while_its_store_is_unavailable() {
        let stats = Stats::shared();
        let c = Counter::new(stats.clone());
        let mut s = c.session(0);
        assert_eq!(ask(s.as_mut(), ""), vec![UNAVAILABLE]);
        stats.store_answered(41);
        assert_eq!(ask(s.as_mut(), ""), vec!["41"]);
        stats.store_failed();
        assert_eq!(ask(s.as_mut(), ""), vec![UNAVAILABLE]);
    }

    #[test]
    fn a_client_that_was_not_counted_is_never_given_a_count() {
        let stats = Stats::shared();
        let c = Counter::new(stats.clone());
        let mut s = c.uncounted_session(0);
        assert_eq!(ask(s.as_mut(), ""), vec![UNAVAILABLE]);
        stats.store_answered(41);
        assert_eq!(ask(s.as_mut(), ""), vec![UNAVAILABLE]);
        assert_eq!(ask(c.session(1).as_mut(), ""), vec!["41"]);
    }
}
