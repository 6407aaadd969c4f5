//! The checks of [`super::settings`] that clap cannot make: sizes against
//! transports, the shape of the load against the run, WebSocket header
//! syntax. Each failure is a usage error that says what is allowed.

use super::settings::{Handshake, Load, Payload};
use super::usage::{UsageError, usage};
use crate::cli::BenchArgs;
use crate::endpoint::Endpoint;

/// Largest batch (`-s` × `--pipeline`) one connection may keep in flight.
pub const MAX_BATCH: usize = 64 << 20;
/// Largest UDP payload over IPv4.
pub const MAX_UDP_SIZE: usize = 65_507;

/// `-s` (or the request) times `--pipeline` must fit [`MAX_BATCH`].
pub fn batch(load: &Load, pipeline: usize) -> Result<(), UsageError> {
    let (what, one) = match &load.payload {
        Payload::Request { text, .. } => {
            if text.contains(['\n', '\r']) {
                return usage(
                    "--request is one request: it cannot contain a line break (e.g. --request '1 6')",
                );
            }
            (format!("--request of {} bytes", text.len()), text.len() + 1)
        }
        Payload::Echo { .. } => (format!("-s {}", load.size), load.size),
    };
    let batch = one.saturating_mul(pipeline);
    if batch > MAX_BATCH {
        return usage(format!(
            "{what} with --pipeline {pipeline} keeps {batch} bytes in flight per connection; the most is {MAX_BATCH} (64 MiB)"
        ));
    }
    Ok(())
}

/// What a transport cannot do.
pub fn targets(load: &Load) -> Result<(), UsageError> {
    for url in &load.targets {
        if !matches!(url, Endpoint::Udp(_)) {
            continue;
        }
        match &load.payload {
            Payload::Request { greeting: true, .. } => {
                return usage(
                    "--greeting cannot be used with udp://: UDP has no connections, so a server sends no greeting",
                );
            }
            Payload::Request { text, .. } if text.len() > MAX_UDP_SIZE => {
                return usage(format!(
                    "--request of {} bytes is larger than a UDP datagram can carry (at most {MAX_UDP_SIZE} bytes)",
                    text.len()
                ));
            }
            Payload::Echo { .. } if load.size > MAX_UDP_SIZE => {
                return usage(format!(
                    "-s {} is larger than a UDP datagram can carry (at most {MAX_UDP_SIZE} bytes)",
                    load.size
                ));
            }
            _ => {}
        }
    }
    let ws = load
        .targets
        .iter()
        .any(|u| matches!(u, Endpoint::Ws(_) | Endpoint::Wss(_)));
    let h = &load.handshake;
    if !ws && (!h.headers.is_empty() || h.protocol.is_some() || h.compress) {
        return usage("-H/--header, --protocol and --compress are for ws:// and wss:// URLs");
    }
    Ok(())
}

/// Ramp-up, churn and several targets against the connection count and
/// the run's length.
pub fn shape(load: &Load) -> Result<(), UsageError> {
    if load.connections < load.targets.len() {
        return usage(format!(
            "-c {} is fewer connections than the {} URLs given: each URL needs one at least",
            load.connections,
            load.targets.len()
        ));
    }
    if let (Some(ramp), None) = (load.ramp_up, load.messages)
        && ramp >= load.warmup + load.duration
    {
        return usage(format!(
            "--ramp-up {ramp:?} must end before the run does (--warmup {:?} + -d {:?})",
            load.warmup, load.duration
        ));
    }
    Ok(())
}

/// `-H 'Name: value'`, `--protocol` (both checked by clap) and
/// `--compress`.
pub fn handshake(args: &BenchArgs) -> Handshake {
    Handshake {
        headers: args.headers.clone(),
        protocol: args.protocol.clone(),
        compress: args.compress,
    }
}
