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
    /// What the server agrees to when a WebSocket client offers
    /// permessage-deflate (`None`: `--compression off`).
    pub compression: Option<Policy>,
    /// The settings of every WebSocket session, built once: the message
    /// limit, and the deflate state the sessions share.
    pub websocket: websocket::Config,
}

impl Shared {
    pub fn new(limits: Limits, compression: Option<Policy>, stats: Arc<Stats>) -> Arc<Shared> {
        let permits = Arc::new(Semaphore::new(limits.max_connections));
        Arc::new(Shared {
            websocket: websocket::Config::new(limits.max_message, compression.is_some()),
            compression,
            limits,
            stats,
            token: CancellationToken::new(),
            tracker: TaskTracker::new(),
            permits,
            metrics: Registry::default(),
        })
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
