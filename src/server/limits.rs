//! Server limits, and the one place their defaults are defined: the
//! command line, the configuration file and `duplex config` take them from
//! here.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// Every limit the server enforces, each with a default and a flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Most sessions open at once, over every listener of the process.
    pub max_connections: usize,
    /// A session with no traffic (in or out) for this long is closed.
    pub idle_timeout: Duration,
    /// Longest request line, in bytes, not counting the line break.
    pub max_line: usize,
    /// Largest WebSocket message, in bytes.
    pub max_message: usize,
    /// How long graceful shutdown may take before connections are dropped.
    pub shutdown_timeout: Duration,
    /// WebSocket: ping every client this often and drop one that has not
    /// answered the previous ping (`None`: no pings).
    pub ping_interval: Option<Duration>,
    /// Browser origins allowed to open WebSocket sessions, besides the
    /// listener's own (the origin policy is in `server/origin.rs`).
    pub allowed_origins: Vec<String>,
    /// `--proxy-protocol` listeners: how long a connection may take to send
    /// its PROXY header.
    pub proxy_timeout: Duration,
    /// `--proxy-protocol` listeners: the longest PROXY header accepted, in
    /// bytes (v2 headers carry TLVs; a v1 header is at most 107 bytes).
    pub proxy_max_header: usize,
    /// `--proxy-protocol` listeners: the sources whose PROXY headers are
    /// believed (connections from anywhere else are refused). Peers of a
    /// Unix socket are always trusted: its file permissions guard it.
    pub trusted_proxies: Vec<IpNet>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 10_000,
            idle_timeout: Duration::from_secs(300),
            max_line: 8192,
            max_message: 1 << 20,
            shutdown_timeout: Duration::from_secs(5),
            ping_interval: None,
            allowed_origins: Vec::new(),
            proxy_timeout: Duration::from_secs(3),
            proxy_max_header: 4096,
            trusted_proxies: loopback(),
        }
    }
}

/// 127.0.0.0/8 and ::1: the default `--trusted-proxy`, a balancer on the
/// same machine.
fn loopback() -> Vec<IpNet> {
    let v4 = Ipv4Net::new(Ipv4Addr::new(127, 0, 0, 0), 8).map(IpNet::V4);
    let v6 = Ipv6Net::new(Ipv6Addr::LOCALHOST, 128).map(IpNet::V6);
    v4.into_iter().chain(v6).collect()
}
