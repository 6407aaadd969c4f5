//! `--counter-store redis://HOST:PORT[/DB]`: the client count of every
//! instance that shares one Redis key (`--counter-key`), through redis-rs'
//! connection manager (one multiplexed connection, reconnected on errors).
//!
//! What each costs: a new client is one `INCR`, awaited when the client is
//! admitted (before its session starts, so its first reply includes it); a
//! request costs no round trip, since `counter` answers with the highest
//! count the store has given (see `service/counter.rs`); and each second a
//! `GET` keeps that count fresh in an instance that admits nobody and
//! tells whether the store answers.
//!
//! While Redis does not answer, nothing waits on it: admissions skip the
//! `INCR`, `counter` replies `ERR counter store unavailable`, `/readyz`
//! answers 503, and the `GET` is retried with a growing pause (100 ms to
//! 2 s) until Redis is back. Redis being down at start is the same state
//! (before the first answer, admissions still try the `INCR`). A client
//! admitted without being counted is answered `ERR counter store
//! unavailable` for its whole session, even once Redis is back: any number
//! it could be given then was given to another client first. Every failed
//! command counts in `duplex_counter_store_errors_total`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::edge_metrics::StoreGauges;
use crate::service::{Stats, StoreState};

/// How often the count is read while the store answers.
const REFRESH: Duration = Duration::from_secs(1);
/// The first and the longest pause between attempts while it does not.
const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(2);

/// Where the count is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreSettings {
    /// `redis://HOST:PORT[/DB]`.
    pub url: String,
    /// The key that holds the count.
    pub key: String,
    /// How long one command (or connecting) may take.
    pub timeout: Duration,
}

impl StoreSettings {
    /// `--counter-key`'s default.
    pub const DEFAULT_KEY: &str = "duplex:clients";
    /// `--counter-timeout`'s default.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

    /// The URL as logs show it: without a password.
    pub fn redacted_url(&self) -> String {
        match self.url.split_once("://") {
            Some((scheme, rest)) => match rest.split_once('@') {
                Some((_, host)) => format!("{scheme}://***@{host}"),
                None => self.url.clone(),
            },
            None => self.url.clone(),
        }
    }
}

/// The count in Redis, shared by every instance that uses the same key.
pub struct CounterStore {
    conn: ConnectionManager,
    settings: StoreSettings,
    stats: Arc<Stats>,
    gauges: Arc<StoreGauges>,
    /// Woken when a command fails, so that retrying starts at once.
    failed: Notify,
}

impl CounterStore {
    /// Starts talking to the store: nothing is awaited here (an unreachable
    /// store is not an error, only a state), and the task that reads the
    /// count and retries runs until `token` is cancelled.
    pub fn start(
        settings: StoreSettings,
        stats: Arc<Stats>,
        gauges: Arc<StoreGauges>,
        token: CancellationToken,
    ) -> anyhow::Result<Arc<CounterStore>> {
        let client = redis::Client::open(settings.url.as_str())
            .map_err(|e| anyhow::anyhow!("--counter-store {}: {e}", settings.redacted_url()))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(settings.timeout))
            .set_response_timeout(Some(settings.timeout))
            // Retrying is this module's job, with its own pauses: a command
            // must never wait for a reconnection loop.
            .set_number_of_retries(0);
        let conn = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| anyhow::anyhow!("--counter-store {}: {e}", settings.redacted_url()))?;
        gauges.configured.store(true, Ordering::Relaxed);
        let store = Arc::new(CounterStore {
            conn,
            settings,
            stats,
            gauges,
            failed: Notify::new(),
        });
        tokio::spawn(store.clone().watch(token));
        Ok(store)
    }

    /// Counts a newly admitted client: one `INCR`, unless the store is
    /// known not to answer. Returns whether the client was counted.
    ///
    /// A client that was not counted stays so for its whole session: were
    /// it answered with the count once the store is back, it would be given
    /// a number some other client was given before it.
    pub async fn client_connected(&self) -> bool {
        if self.stats.store_state() == StoreState::Down {
            return false;
        }
        let mut incr = redis::cmd("INCR");
        incr.arg(&self.settings.key);
        match self.query::<u64>(&incr).await {
            Ok(n) => {
                self.answered(n);
                true
            }
            Err(why) => {
                self.fail(&why);
                false
            }
        }
    }

    /// True while the store answers (`/readyz`).
    pub fn ready(&self) -> bool {
        self.stats.store_state() == StoreState::Up
    }

    /// One command, bounded by the timeout.
    async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, String> {
        let mut conn = self.conn.clone();
        match tokio::time::timeout(self.settings.timeout, cmd.query_async(&mut conn)).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {:?}", self.settings.timeout)),
        }
    }

    /// The store answered with the count `n`.
    fn answered(&self, n: u64) {
        self.gauges.up.store(true, Ordering::Relaxed);
        if self.stats.store_answered(n) != StoreState::Up {
            tracing::info!(store = %self.settings.redacted_url(), count = n, "counter store available");
        }
    }

    fn fail(&self, why: &str) {
        self.gauges.errors.fetch_add(1, Ordering::Relaxed);
        self.gauges.up.store(false, Ordering::Relaxed);
        if self.stats.store_failed() != StoreState::Down {
            tracing::warn!(
                store = %self.settings.redacted_url(),
                "counter store unavailable ({why}): `counter` answers ERR counter store unavailable and /readyz 503 until it is back"
            );
            self.failed.notify_one();
        }
    }

    /// Reads the count every [`REFRESH`] while the store answers, and
    /// retries with growing pauses while it does not.
    async fn watch(self: Arc<Self>, token: CancellationToken) {
        let mut retry = RETRY_FIRST;
        let mut get = redis::cmd("GET");
        get.arg(&self.settings.key);
        loop {
            let pause = match self.query::<Option<u64>>(&get).await {
                Ok(n) => {
                    self.answered(n.unwrap_or(0));
                    retry = RETRY_FIRST;
                    REFRESH
                }
                Err(why) => {
                    self.fail(&why);
                    let pause = retry;
                    retry = (retry * 2).min(RETRY_MAX);
                    pause
                }
            };
            tokio::select! {
                _ = token.cancelled() => return,
                _ = tokio::time::sleep(pause) => {}
                _ = self.failed.notified() => retry = RETRY_FIRST,
            }
        }
    }
}
