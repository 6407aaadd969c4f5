//! The state every listener and session of one server shares: written once
//! for every transport.
//!
//! The connection limit is a semaphore tried at accept time, so that a
//! refused client gets an answer instead of hanging in the backlog; the
//! shutdown token is watched by every task, and the task tracker is what
//! graceful shutdown waits on.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::limits::Limits;
use super::metrics::Registry;
use super::store::{CounterStore, StoreSettings};
use crate::service::Stats;
use crate::websocket::{self, Policy};

/// State shared by every listener and connection of one server process.
pub struct Shared {
    pub limits: Limits,
    pub stats: Arc<Stats>,
    /// Cancelled when shutdown begins: listeners stop accepting and idle
    /// sessions end.
    pub token: CancellationToken,
    /// Every listener and connection task, so shutdown can wait for
    /// in-flight replies.
    pub tracker: TaskTracker,
    /// One permit per open session (`--max-connections`).
    permits: Arc<Semaphore>,
    /// Every service's counters, for `/metrics`.
    pub metrics: Registry,
    /// Where the client count is kept when several instances share it.
    store: Option<Arc<CounterStore>>,
    /// What the server agrees to when a WebSocket client offers
    /// permessage-deflate (`None`: `--compression off`).
    pub compression: Option<Policy>,
    /// The settings of every WebSocket session, built once: the message
    /// limit, and the deflate state the sessions share.
    pub websocket: websocket::Config,
}

impl Shared {
    /// The shared state of a server; with `store`, the client count is
    /// kept there (`stats` should then be [`Stats::shared`]).
    pub fn new(
        limits: Limits,
        compression: Option<Policy>,
        stats: Arc<Stats>,
        store: Option<StoreSettings>,
    ) -> anyhow::Result<Arc<Shared>> {
        let permits = Arc::new(Semaphore::new(limits.max_connections));
        let token = CancellationToken::new();
        let metrics = Registry::default();
        let store = store
            .map(|s| CounterStore::start(s, stats.clone(), metrics.store.clone(), token.clone()))
            .transpose()?;
        Ok(Arc::new(Shared {
            websocket: websocket::Config::new(limits.max_message, compression.is_some()),
            compression,
            limits,
            stats,
            token,
            tracker: TaskTracker::new(),
            permits,
            metrics,
            store,
        }))
    }

    /// Counts a newly admitted client, for `counter`: in this process, or
    /// in the store (one round trip, see `store.rs`). Returns whether it was
    /// counted (always, without a store).
    pub async fn count_client(&self) -> bool {
        match &self.store {
            Some(store) => store.client_connected().await,
            None => {
                self.stats.client_connected();
                true
            }
        }
    }

    /// Ready to serve as it should (`/readyz`): false while the store of
    /// the client count does not answer.
    pub fn ready(&self) -> bool {
        self.store.as_ref().is_none_or(|s| s.ready())
    }

    /// Takes a session slot, or `None` when `--max-connections` sessions are
    /// already open. The slot is freed when the permit is dropped.
    pub fn admit(&self) -> Option<OwnedSemaphorePermit> {
        self.permits.clone().try_acquire_owned().ok()
    }

    /// The one-line answer given to a client refused by the connection limit.
    pub fn busy_message(&self) -> String {
        format!(
            "ERR server busy: {} connections open, the limit is {} (--max-connections)\n",
            self.limits.max_connections, self.limits.max_connections
        )
    }

    /// Graceful shutdown: listeners stop accepting and idle sessions end at
    /// once, replies in flight finish, WebSocket sessions close with 1001;
    /// whatever is still open after `--shutdown-timeout` is dropped.
    pub async fn shut_down(&self) {
        self.token.cancel();
        self.tracker.close();
        tokio::select! {
            _ = self.tracker.wait() => tracing::info!("shutdown complete"),
            _ = tokio::time::sleep(self.limits.shutdown_timeout) => {
                tracing::warn!(open = self.tracker.len(), "shutdown timeout: dropping the remaining connections");
            }
        }
    }
}
