//! The one count every transport adds to and `counter` reads: kept in this
//! process, or in a store several processes share (`--counter-store`),
//! where the server counts each client and this keeps what the store said.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

/// Process-wide statistics shared by every listener and transport.
#[derive(Debug, Default)]
pub struct Stats {
    /// Clients that have connected since the server started, over all
    /// transports: what `counter` reports. With a store, the highest count
    /// it has answered with (counts only grow).
    clients: AtomicU64,
    /// `None`: the count is this process's own. `Some`: it is kept in a
    /// store, whose state this is (see [`StoreState`]).
    store: Option<AtomicU8>,
}

/// Whether the store that keeps the count answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreState {
    /// Not asked yet (the server is starting).
    Unknown = 0,
    Up = 1,
    Down = 2,
}

impl StoreState {
    fn from_u8(v: u8) -> StoreState {
        match v {
            1 => StoreState::Up,
            2 => StoreState::Down,
            _ => StoreState::Unknown,
        }
    }
}

impl Stats {
    /// A count of this process's clients.
    pub fn new() -> Arc<Stats> {
        Arc::new(Stats::default())
    }

    /// A count kept in a store the server talks to; unavailable until the
    /// store first answers.
    pub fn shared() -> Arc<Stats> {
        Arc::new(Stats {
            clients: AtomicU64::new(0),
            store: Some(AtomicU8::new(StoreState::Unknown as u8)),
        })
    }

    /// True when the count is kept in a store.
    pub fn is_shared(&self) -> bool {
        self.store.is_some()
    }

    /// Records a newly admitted client and returns the new total (a count
    /// of this process's own).
    pub fn client_connected(&self) -> u64 {
        self.clients.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// The store answered with `count`; returns its state before.
    pub fn store_answered(&self, count: u64) -> StoreState {
        self.clients.fetch_max(count, Ordering::Relaxed);
        self.set_store(StoreState::Up)
    }

    /// The store did not answer; returns its state before.
    pub fn store_failed(&self) -> StoreState {
        self.set_store(StoreState::Down)
    }

    fn set_store(&self, state: StoreState) -> StoreState {
        match &self.store {
            Some(s) => StoreState::from_u8(s.swap(state as u8, Ordering::Relaxed)),
            None => StoreState::Up,
        }
    }

    /// Whether the store answers (always, for a count of one's own).
    pub fn store_state(&self) -> StoreState {
        match &self.store {
            Some(s) => StoreState::from_u8(s.load(Ordering::Relaxed)),
            None => StoreState::Up,
        }
    }

    /// The count, or `None` while the store that keeps it does not answer.
    pub fn count(&self) -> Option<u64> {
        (self.store_state() == StoreState::Up).then(|| self.clients())
    }

    pub fn clients(&self) -> u64 {
        self.clients.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_count_is_known_only_while_the_store_answers_and_never_goes_back() {
        let s = Stats::shared();
        assert_eq!(s.count(), None);
        assert_eq!(s.store_answered(7), StoreState::Unknown);
        assert_eq!(s.count(), Some(7));
        // An older answer arriving late does not move the count back.
        assert_eq!(s.store_answered(5), StoreState::Up);
        assert_eq!(s.count(), Some(7));
        assert_eq!(s.store_failed(), StoreState::Up);
        assert_eq!(s.count(), None);
        assert_eq!(s.store_answered(9), StoreState::Down);
        assert_eq!(s.count(), Some(9));
        let local = Stats::new();
        assert_eq!(local.client_connected(), 1);
        assert_eq!(local.count(), Some(1));
    }
}
