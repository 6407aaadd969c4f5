//! The one count every transport adds to and `counter` reads.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Process-wide statistics shared by every listener and transport.
#[derive(Debug, Default)]
pub struct Stats {
    /// Clients that have connected since the server started, over all
    /// transports: what `counter` reports.
    clients: AtomicU64,
}

impl Stats {
    pub fn new() -> Arc<Stats> {
        Arc::new(Stats::default())
    }

    /// Records a newly admitted client and returns the new total.
    pub fn client_connected(&self) -> u64 {
        self.clients.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub fn clients(&self) -> u64 {
        self.clients.load(Ordering::Relaxed)
    }
}
