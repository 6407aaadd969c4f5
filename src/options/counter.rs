//! Where `counter` keeps its count (`[counter]`): in the process, or in a
//! Redis shared by every instance behind a balancer. The store URL is
//! checked when it is read, so a typo is a usage error and not a counter
//! that silently counts alone.

use std::time::Duration;

use clap::Args;
use serde::{Deserialize, Deserializer};

use super::parse::{duration, parse_duration};
use crate::server::StoreSettings;

/// Where `counter` keeps its count: `--counter-store`, `--counter-key`,
/// `--counter-timeout` and the `[counter]` table (`store`, `key`,
/// `timeout`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CounterOptions {
    /// Count the clients of every instance that shares this Redis,
    /// redis://HOST:PORT[/DB] (one INCR per new client) [default: each
    /// process counts its own].
    #[arg(long, value_name = "URL", value_parser = parse_store_url, help_heading = "Many instances")]
    #[serde(rename = "store", default, deserialize_with = "store_url")]
    pub counter_store: Option<String>,
    /// --counter-store: the key that holds the count.
    #[arg(long, value_name = "KEY", help_heading = "Many instances")]
    #[serde(rename = "key")]
    pub counter_key: Option<String>,
    /// --counter-store: how long one command may take before the store
    /// counts as unavailable.
    #[arg(long, value_parser = parse_duration, help_heading = "Many instances")]
    #[serde(rename = "timeout", default, deserialize_with = "duration")]
    pub counter_timeout: Option<Duration>,
}

impl CounterOptions {
    /// These options over `base` (the flags over the file's).
    pub fn over(&self, base: &CounterOptions) -> CounterOptions {
        CounterOptions {
            counter_store: self.counter_store.clone().or(base.counter_store.clone()),
            counter_key: self.counter_key.clone().or(base.counter_key.clone()),
            counter_timeout: self.counter_timeout.or(base.counter_timeout),
        }
    }

    /// The store, if one is given; its key and timeout otherwise are
    /// mistakes worth reporting.
    pub fn settings(&self) -> anyhow::Result<Option<StoreSettings>> {
        let Some(url) = &self.counter_store else {
            if self.counter_key.is_some() || self.counter_timeout.is_some() {
                anyhow::bail!(
                    "--counter-key and --counter-timeout apply with --counter-store only"
                );
            }
            return Ok(None);
        };
        let timeout = self
            .counter_timeout
            .unwrap_or(StoreSettings::DEFAULT_TIMEOUT);
        if timeout.is_zero() {
            anyhow::bail!("counter-timeout must be longer than 0");
        }
        let key = self
            .counter_key
            .clone()
            .unwrap_or_else(|| StoreSettings::DEFAULT_KEY.to_string());
        if key.is_empty() {
            anyhow::bail!("counter-key cannot be empty");
        }
        Ok(Some(StoreSettings {
            url: url.clone(),
            key,
            timeout,
        }))
    }
}

/// Parses a `--counter-store` URL: `redis://HOST:PORT[/DB]`.
pub fn parse_store_url(s: &str) -> Result<String, String> {
    let example = "(for example redis://127.0.0.1:6379/0)";
    if !s.starts_with("redis://") {
        return Err(format!("'{s}' is not a redis:// URL {example}"));
    }
    redis::Client::open(s)
        .map(|_| s.to_string())
        .map_err(|e| format!("'{s}': {e} {example}"))
}

/// A `--counter-store` URL in a configuration file.
fn store_url<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = String::deserialize(d)?;
    parse_store_url(&s)
        .map(Some)
        .map_err(serde::de::Error::custom)
}
