//! Server limits, and the one place their defaults are defined: the
//! command line, the configuration file and `duplex config` take them from
//! here.

use std::time::Duration;

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
        }
    }
}
