//! What the metrics count at the edges of a session, beyond a service's
//! own counters: PROXY headers a `--proxy-protocol` listener refused, the
//! `--counter-store` shared with other instances, and the upstreams a
//! bridge could not reach. Rendered by [`super::metrics::Registry`].

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Why a `--proxy-protocol` listener refused a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyRejection {
    /// From a source that is not a `--trusted-proxy`.
    Untrusted,
    /// Something other than a PROXY header, or a malformed one.
    Invalid,
    /// A v2 header over `--proxy-max-header`.
    TooLarge,
    /// No whole header within `--proxy-timeout`.
    Timeout,
    /// The connection ended before its header was whole.
    Truncated,
}

impl ProxyRejection {
    pub const ALL: [ProxyRejection; 5] = [
        ProxyRejection::Untrusted,
        ProxyRejection::Invalid,
        ProxyRejection::TooLarge,
        ProxyRejection::Timeout,
        ProxyRejection::Truncated,
    ];

    pub fn label(self) -> &'static str {
        match self {
            ProxyRejection::Untrusted => "untrusted",
            ProxyRejection::Invalid => "invalid",
            ProxyRejection::TooLarge => "too_large",
            ProxyRejection::Timeout => "timeout",
            ProxyRejection::Truncated => "truncated",
        }
    }
}

/// Why a bridge could not reach its upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamFailure {
    /// Nothing listens there.
    Refused,
    /// `--connect-timeout` passed.
    Timeout,
    /// The host name does not resolve.
    Dns,
    /// The TLS handshake failed (a certificate that does not verify).
    Tls,
    /// The WebSocket handshake was refused (HTTP 403…) or broken.
    WebSocket,
    /// Anything else (no such socket file, unreachable network, …).
    Other,
}

impl UpstreamFailure {
    pub const ALL: [UpstreamFailure; 6] = [
        UpstreamFailure::Refused,
        UpstreamFailure::Timeout,
        UpstreamFailure::Dns,
        UpstreamFailure::Tls,
        UpstreamFailure::WebSocket,
        UpstreamFailure::Other,
    ];
    pub fn label(self) -> &'static str {
        match self {
            UpstreamFailure::Refused => "refused",
            UpstreamFailure::Timeout => "timeout",
            UpstreamFailure::Dns => "dns",
            UpstreamFailure::Tls => "tls",
            UpstreamFailure::WebSocket => "websocket",
            UpstreamFailure::Other => "other",
        }
    }
}

/// The store of the shared client count (`--counter-store`).
#[derive(Debug, Default)]
pub struct StoreGauges {
    /// Set when there is a store: only then are these rendered.
    pub configured: AtomicBool,
    /// Whether it answered last time.
    pub up: AtomicBool,
    /// Commands that failed or timed out.
    pub errors: AtomicU64,
}

/// Bridges' failures to reach their upstream, by kind; rendered once a
/// bridge runs.
#[derive(Debug, Default)]
pub struct UpstreamFailures {
    pub in_use: AtomicBool,
    by_kind: [AtomicU64; 6],
}

impl UpstreamFailures {
    pub fn count(&self, kind: UpstreamFailure) {
        self.by_kind[kind as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// How many failed of `kind`.
    pub fn of(&self, kind: UpstreamFailure) -> u64 {
        self.by_kind[kind as usize].load(Ordering::Relaxed)
    }
}
