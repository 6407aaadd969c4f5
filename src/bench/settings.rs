//! What `duplex bench` runs, checked: [`Settings`] and its parts. They are
//! made from the raw arguments once, by `from_args.rs`; the engine never
//! sees the command line.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::threshold::Threshold;
use crate::endpoint::Endpoint;

/// What the connections do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Each connection keeps `--pipeline` messages in flight.
    Closed,
    /// Messages on a fixed schedule (`--rate`, `--rate-per-conn`).
    Rate,
    /// Connect, one message, close, again (`--connect-rate`).
    Connect,
    /// Idle connections (`--hold`).
    Hold,
}

/// What every message is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// Payloads made of `content`, echoed and verified.
    Echo { content: Content },
    /// `--request`: one request per message, one good reply expected.
    Request { text: String, greeting: bool },
}

/// What echoed payloads are made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    /// Random bytes (binary WebSocket messages).
    Binary,
    /// Random printable ASCII (`--text`).
    Text,
    /// JSON-like records (`--json-text`): text that compresses as real
    /// traffic does.
    Json,
}

impl Content {
    /// Sent as WebSocket text messages.
    pub fn is_text(self) -> bool {
        self != Content::Binary
    }
}

/// Which latency sets the report shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sets {
    pub connect: bool,
    pub first_byte: bool,
    pub rtt: bool,
}

/// WebSocket handshake options: `-H` (checked by clap), `--protocol`,
/// `--compress`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Handshake {
    pub headers: Vec<String>,
    pub protocol: Option<String>,
    pub compress: bool,
}

/// A load run, checked.
#[derive(Debug, Clone)]
pub struct Load {
    pub targets: Vec<Endpoint>,
    pub mode: Mode,
    /// Connections over all targets (`--hold N`: N).
    pub connections: usize,
    pub duration: Duration,
    pub messages: Option<u64>,
    pub size: usize,
    pub pipeline: usize,
    pub warmup: Duration,
    pub timeout: Duration,
    /// Messages per second over all connections (open loop).
    pub rate: Option<f64>,
    /// `--rate-per-conn`, as given, for the report.
    pub rate_per_conn: Option<f64>,
    pub ramp_up: Option<Duration>,
    pub conn_lifetime: Option<Duration>,
    pub payload: Payload,
    pub handshake: Handshake,
    pub ca: Option<PathBuf>,
    pub insecure: bool,
    pub server_pid: Option<u32>,
}

/// What `duplex bench` is asked to do.
#[derive(Debug, Clone)]
pub enum Task {
    Load(Box<Load>),
    /// `duplex bench merge FILE…`.
    Merge(Vec<PathBuf>),
}

/// Everything `duplex bench` needs, checked.
#[derive(Debug, Clone)]
pub struct Settings {
    pub task: Task,
    pub sets: Sets,
    pub thresholds: Vec<Threshold>,
    pub json: bool,
    pub plot: Option<PathBuf>,
}
