//! The server limits (`[limits]`, the "Limits" flags and the PROXY-header
//! bounds): what keeps one client, or many, from taking more than their
//! share. They are checked once merged, so a bad value from the file or a
//! flag is a usage error before anything binds.

use std::time::Duration;

use clap::Args;
use ipnet::IpNet;
use serde::Deserialize;

use super::parse::{cidrs, duration, parse_cidr, parse_duration};
use crate::proxy_header;
use crate::server::Limits;

/// Server limits: the limit flags of `duplex serve` and the `[limits]`
/// table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitOptions {
    /// Most client sessions open at once, over all listeners.
    #[arg(long, help_heading = "Limits")]
    pub max_connections: Option<usize>,
    /// Close a session after this long without traffic.
    #[arg(long, value_parser = parse_duration, help_heading = "Limits")]
    #[serde(default, deserialize_with = "duration")]
    pub idle_timeout: Option<Duration>,
    /// Longest request line in bytes.
    #[arg(long, help_heading = "Limits")]
    pub max_line: Option<usize>,
    /// Largest WebSocket message in bytes.
    #[arg(long, help_heading = "Limits")]
    pub max_message: Option<usize>,
    /// How long graceful shutdown may take.
    #[arg(long, value_parser = parse_duration, help_heading = "Limits")]
    #[serde(default, deserialize_with = "duration")]
    pub shutdown_timeout: Option<Duration>,
    /// WebSocket: ping clients this often and drop those that stop answering
    /// (0: never) [default: off].
    #[arg(long, value_parser = parse_duration, help_heading = "Limits")]
    #[serde(default, deserialize_with = "duration")]
    pub ping_interval: Option<Duration>,
    /// WebSocket: a browser origin allowed to connect besides the listener's
    /// own: `https://app.example.com`, `app.example.com`, `*.example.com` or
    /// `*` (repeatable) [default: the listener's own and loopback pages].
    #[arg(
        long = "allowed-origin",
        value_name = "ORIGIN",
        help_heading = "Limits"
    )]
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// --proxy-protocol: close a connection whose PROXY header has not come
    /// whole within this time.
    #[arg(long, value_parser = parse_duration, help_heading = "Many instances")]
    #[serde(default, deserialize_with = "duration")]
    pub proxy_timeout: Option<Duration>,
    /// --proxy-protocol: longest PROXY header accepted, in bytes (v2 headers
    /// carry TLVs).
    #[arg(long, value_name = "BYTES", help_heading = "Many instances")]
    pub proxy_max_header: Option<usize>,
    /// --proxy-protocol: believe PROXY headers from this address or CIDR
    /// block only (repeatable) [default: 127.0.0.0/8 and ::1; peers of a
    /// unix listener are trusted].
    #[arg(
        long = "trusted-proxy",
        value_name = "CIDR",
        value_parser = parse_cidr,
        help_heading = "Many instances"
    )]
    #[serde(default, deserialize_with = "cidrs")]
    pub trusted_proxies: Vec<IpNet>,
}

impl LimitOptions {
    /// `base` with every limit given here put in: the file's limits over
    /// the defaults, then the flags' over the file's. A zero
    /// `ping_interval` turns pings off; the result is checked.
    pub fn apply(&self, mut base: Limits) -> anyhow::Result<Limits> {
        // Destructured so that a new option cannot be forgotten here.
        let LimitOptions {
            max_connections,
            idle_timeout,
            max_line,
            max_message,
            shutdown_timeout,
            ping_interval,
            allowed_origins,
            proxy_timeout,
            proxy_max_header,
            trusted_proxies,
        } = self;
        let l = &mut base;
        l.max_connections = max_connections.unwrap_or(l.max_connections);
        l.idle_timeout = idle_timeout.unwrap_or(l.idle_timeout);
        l.max_line = max_line.unwrap_or(l.max_line);
        l.max_message = max_message.unwrap_or(l.max_message);
        l.shutdown_timeout = shutdown_timeout.unwrap_or(l.shutdown_timeout);
        if let Some(p) = ping_interval {
            l.ping_interval = (!p.is_zero()).then_some(*p);
        }
        if !allowed_origins.is_empty() {
            l.allowed_origins = allowed_origins.clone();
        }
        l.proxy_timeout = proxy_timeout.unwrap_or(l.proxy_timeout);
        l.proxy_max_header = proxy_max_header.unwrap_or(l.proxy_max_header);
        if !trusted_proxies.is_empty() {
            l.trusted_proxies = trusted_proxies.clone();
        }
        check(l)?;
        Ok(base)
    }
}

fn check(l: &Limits) -> anyhow::Result<()> {
    if l.max_connections == 0 {
        anyhow::bail!("max-connections must be at least 1");
    }
    if l.max_line == 0 {
        anyhow::bail!("max-line must be at least 1");
    }
    if l.max_message == 0 {
        anyhow::bail!("max-message must be at least 1");
    }
    if l.idle_timeout.is_zero() {
        anyhow::bail!("idle-timeout must be longer than 0");
    }
    if l.proxy_timeout.is_zero() {
        anyhow::bail!("proxy-timeout must be longer than 0");
    }
    if l.proxy_max_header < proxy_header::V1_MAX {
        anyhow::bail!(
            "proxy-max-header must be at least {} (the longest v1 header)",
            proxy_header::V1_MAX
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_over_file_over_defaults() {
        let file = LimitOptions {
            max_line: Some(10),
            ping_interval: Some(Duration::from_secs(3)),
            ..LimitOptions::default()
        };
        let flags = LimitOptions {
            max_line: Some(20),
            ping_interval: Some(Duration::ZERO),
            ..LimitOptions::default()
        };
        let from_file = file.apply(Limits::default()).expect("file");
        assert_eq!(from_file.max_line, 10);
        assert_eq!(from_file.ping_interval, Some(Duration::from_secs(3)));
        let merged = flags.apply(from_file).expect("flags");
        assert_eq!(merged.max_line, 20);
        assert_eq!(merged.ping_interval, None);
        assert_eq!(merged.idle_timeout, Limits::default().idle_timeout);
    }
}
