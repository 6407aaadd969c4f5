//! Counters for every service and transport, rendered in the Prometheus text
//! format at `/metrics` on WebSocket listeners and on the `--metrics`
//! listener.
//!
//! Counters are plain relaxed atomics bumped where the event happens: a
//! scrape may see one connection's bytes a moment before its request count,
//! which is fine for monitoring and costs the hot path one uncontended add.

use std::fmt::Write;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use crate::endpoint::Endpoint;

/// The transports, as metric labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Tcp,
    Udp,
    Unix,
    Tls,
    Ws,
    Wss,
}

impl Transport {
    pub const ALL: [Transport; 6] = [
        Transport::Tcp,
        Transport::Udp,
        Transport::Unix,
        Transport::Tls,
        Transport::Ws,
        Transport::Wss,
    ];

    pub fn of(endpoint: &Endpoint) -> Transport {
        match endpoint {
            Endpoint::Tcp(_) => Transport::Tcp,
            Endpoint::Udp(_) => Transport::Udp,
            Endpoint::Unix(_) => Transport::Unix,
            Endpoint::Tls(_) => Transport::Tls,
            Endpoint::Ws(_) => Transport::Ws,
            Endpoint::Wss(_) => Transport::Wss,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
            Transport::Unix => "unix",
            Transport::Tls => "tls",
            Transport::Ws => "ws",
            Transport::Wss => "wss",
        }
    }
}

/// Kinds of error a session can end with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A socket error (reset, broken pipe, …).
    Io,
    /// A WebSocket protocol violation (close 1002).
    Protocol,
    /// Invalid UTF-8 in a WebSocket text message (close 1007).
    Utf8,
}

impl ErrorKind {
    const ALL: [ErrorKind; 3] = [ErrorKind::Io, ErrorKind::Protocol, ErrorKind::Utf8];
    fn label(self) -> &'static str {
        match self {
            ErrorKind::Io => "io",
            ErrorKind::Protocol => "protocol",
            ErrorKind::Utf8 => "utf8",
        }
    }
}

/// Limits that can be hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    MaxConnections,
    IdleTimeout,
    MaxLine,
    MaxMessage,
}

impl Limit {
    const ALL: [Limit; 4] = [
        Limit::MaxConnections,
        Limit::IdleTimeout,
        Limit::MaxLine,
        Limit::MaxMessage,
    ];
    fn label(self) -> &'static str {
        match self {
            Limit::MaxConnections => "max_connections",
            Limit::IdleTimeout => "idle_timeout",
            Limit::MaxLine => "max_line",
            Limit::MaxMessage => "max_message",
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
    const ALL: [UpstreamFailure; 6] = [
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
}

/// The counters of one service on one transport.
#[derive(Debug, Default)]
pub struct Counters {
    /// Set once a listener of this transport carries the service, so that
    /// only real combinations are rendered.
    pub in_use: AtomicBool,
    pub accepted: AtomicU64,
    pub active: AtomicI64,
    pub refused: AtomicU64,
    pub requests: AtomicU64,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    errors: [AtomicU64; 3],
    limit_hits: [AtomicU64; 4],
}

impl Counters {
    #[inline]
    pub fn received(&self, n: usize) {
        self.bytes_in.fetch_add(n as u64, Ordering::Relaxed);
    }

    #[inline]
    pub fn sent(&self, n: usize) {
        self.bytes_out.fetch_add(n as u64, Ordering::Relaxed);
    }

    #[inline]
    pub fn request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    pub fn error(&self, kind: ErrorKind) {
        self.errors[kind as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn limit_hit(&self, limit: Limit) {
        self.limit_hits[limit as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn opened(&self) {
        self.accepted.fetch_add(1, Ordering::Relaxed);
        self.active.fetch_add(1, Ordering::Relaxed);
    }

    pub fn closed(&self) {
        self.active.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn refused(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
        self.limit_hit(Limit::MaxConnections);
    }
}

/// The counters of one service, per transport.
#[derive(Debug, Default)]
pub struct ServiceCounters {
    by_transport: [Counters; 6],
}

impl ServiceCounters {
    pub fn get(&self, t: Transport) -> &Counters {
        &self.by_transport[t as usize]
    }
}

/// A metric family: name, type, help text and how to read it.
type Family = (
    &'static str,
    &'static str,
    &'static str,
    fn(&Counters) -> u64,
);

/// Every service's counters, for rendering.
#[derive(Default)]
pub struct Registry {
    services: Mutex<Vec<(&'static str, Arc<ServiceCounters>)>>,
    /// TLS handshakes that failed or timed out (before any service is known).
    pub tls_handshake_failures: AtomicU64,
    /// Bridges' failures to reach their upstream.
    pub upstream_failures: UpstreamFailures,
}

impl Registry {
    /// Registers a service's counters (at start-up, not on a hot path).
    pub fn register(&self, name: &'static str, counters: Arc<ServiceCounters>) {
        if let Ok(mut s) = self.services.lock() {
            s.push((name, counters));
        }
    }

    /// The Prometheus text exposition of every counter.
    pub fn render(&self) -> String {
        let services = match self.services.lock() {
            Ok(s) => s.clone(),
            Err(_) => return String::new(),
        };
        let mut out = String::with_capacity(4096);
        // One sample per service and transport in use; `label` is an extra
        // `key="value",` put before the service label (or empty).
        let rows = |out: &mut String, name: &str, label: &str, get: &dyn Fn(&Counters) -> u64| {
            for (service, counters) in &services {
                for t in Transport::ALL {
                    let c = counters.get(t);
                    if c.in_use.load(Ordering::Relaxed) {
                        let _ = writeln!(
                            out,
                            "{name}{{{label}service=\"{service}\",transport=\"{}\"}} {}",
                            t.label(),
                            get(c)
                        );
                    }
                }
            }
        };
        let header = |out: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        let simple: [Family; 6] = [
            (
                "duplex_connections_accepted_total",
                "counter",
                "Sessions admitted.",
                |c| c.accepted.load(Ordering::Relaxed),
            ),
            (
                "duplex_connections_active",
                "gauge",
                "Sessions open now.",
                |c| c.active.load(Ordering::Relaxed).max(0) as u64,
            ),
            (
                "duplex_connections_refused_total",
                "counter",
                "Sessions refused by --max-connections.",
                |c| c.refused.load(Ordering::Relaxed),
            ),
            (
                "duplex_requests_total",
                "counter",
                "Requests (lines, datagrams, messages) handled.",
                |c| c.requests.load(Ordering::Relaxed),
            ),
            (
                "duplex_bytes_received_total",
                "counter",
                "Payload bytes received from clients.",
                |c| c.bytes_in.load(Ordering::Relaxed),
            ),
            (
                "duplex_bytes_sent_total",
                "counter",
                "Payload bytes sent to clients.",
                |c| c.bytes_out.load(Ordering::Relaxed),
            ),
        ];
        for (name, kind, help, get) in simple {
            header(&mut out, name, kind, help);
            rows(&mut out, name, "", &get);
        }
        let name = "duplex_errors_total";
        header(
            &mut out,
            name,
            "counter",
            "Sessions ended by an error, by kind.",
        );
        for kind in ErrorKind::ALL {
            let label = format!("kind=\"{}\",", kind.label());
            rows(&mut out, name, &label, &|c| {
                c.errors[kind as usize].load(Ordering::Relaxed)
            });
        }
        let name = "duplex_limit_hits_total";
        header(&mut out, name, "counter", "Times a limit was hit.");
        for limit in Limit::ALL {
            let label = format!("limit=\"{}\",", limit.label());
            rows(&mut out, name, &label, &|c| {
                c.limit_hits[limit as usize].load(Ordering::Relaxed)
            });
        }
        let name = "duplex_tls_handshake_failures_total";
        header(
            &mut out,
            name,
            "counter",
            "TLS handshakes that failed or timed out.",
        );
        let _ = writeln!(
            out,
            "{name} {}",
            self.tls_handshake_failures.load(Ordering::Relaxed)
        );
        let failures = &self.upstream_failures;
        if failures.in_use.load(Ordering::Relaxed) {
            let name = "duplex_bridge_upstream_failures_total";
            header(
                &mut out,
                name,
                "counter",
                "Bridge sessions whose upstream could not be reached, by kind.",
            );
            for kind in UpstreamFailure::ALL {
                let n = failures.by_kind[kind as usize].load(Ordering::Relaxed);
                let _ = writeln!(out, "{name}{{kind=\"{}\"}} {n}", kind.label());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_only_used_combinations_in_prometheus_format() {
        let r = Registry::default();
        let echo = Arc::new(ServiceCounters::default());
        r.register("echo", echo.clone());
        let tcp = echo.get(Transport::Tcp);
        tcp.in_use.store(true, Ordering::Relaxed);
        tcp.opened();
        tcp.received(10);
        tcp.limit_hit(Limit::MaxLine);
        tcp.error(ErrorKind::Io);
        let text = r.render();
        assert!(
            text.contains(
                "duplex_connections_accepted_total{service=\"echo\",transport=\"tcp\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains("duplex_connections_active{service=\"echo\",transport=\"tcp\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("duplex_bytes_received_total{service=\"echo\",transport=\"tcp\"} 10"),
            "{text}"
        );
        assert!(
            text.contains(
                "duplex_limit_hits_total{limit=\"max_line\",service=\"echo\",transport=\"tcp\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains("duplex_errors_total{kind=\"io\",service=\"echo\",transport=\"tcp\"} 1"),
            "{text}"
        );
        assert!(!text.contains("transport=\"udp\""), "{text}");
    }
}
