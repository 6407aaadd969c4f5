//! Flag values `connect` and `bench` share: checked by clap as they are
//! parsed, so a bad header or a zero timeout is a usage error (exit 2), and
//! what the WebSocket handshake flags become once checked.

use std::time::Duration;

use crate::options::parse_duration;

/// A count from 1 to `max`.
pub(super) fn count(max: usize) -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::<usize>::new().range(1..=max as u64)
}

/// The WebSocket handshake options of `-H`, `--protocol` and `--compress`
/// (checked by clap already).
pub fn websocket_options(
    headers: &[String],
    protocol: Option<&str>,
    compress: bool,
    max_message: usize,
) -> crate::websocket::ClientOptions {
    let mut o = crate::websocket::ClientOptions::new(max_message, compress);
    o.headers = headers
        .iter()
        .filter_map(|h| crate::websocket::parse_header(h).ok())
        .collect();
    o.protocol = protocol.and_then(|p| hyper::header::HeaderValue::from_str(p).ok());
    o
}

/// `-H 'Name: value'`, checked as a request header duplex lets a user set.
pub(super) fn header(s: &str) -> Result<String, String> {
    crate::websocket::parse_header(s).map(|_| s.to_string())
}

/// `--protocol`, checked as a header value.
pub(super) fn subprotocol(s: &str) -> Result<String, String> {
    match hyper::header::HeaderValue::from_str(s) {
        Ok(_) if !s.trim().is_empty() => Ok(s.to_string()),
        _ => Err(format!("--protocol '{s}' is not a valid subprotocol")),
    }
}

/// A duration greater than zero.
pub(super) fn positive_duration(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d.is_zero() {
        Err(format!(
            "'{s}' must be longer than zero (for example 500ms, 3s, 5m)"
        ))
    } else {
        Ok(d)
    }
}
