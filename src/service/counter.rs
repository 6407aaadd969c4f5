//! `counter`: answers every request with the number of clients that have
//! connected since the server started, over all transports (the classic
//! concurrent server with a client counter).

use std::io::Write;
use std::sync::Arc;

use super::session::{LineService, OneReply, Session};
use super::stats::Stats;

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
            stats: self.stats.clone(),
            reply: OneReply::default(),
        })
    }
}

struct CounterSession {
    stats: Arc<Stats>,
    reply: OneReply,
}

impl Session for CounterSession {
    fn request(&mut self, _request: &[u8]) {
        self.reply.queue();
    }

    fn next_reply(&mut self, out: &mut Vec<u8>) -> bool {
        let stats = &self.stats;
        self.reply.pull(out, |out| {
            let _ = write!(out, "{}", stats.clients());
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
}
