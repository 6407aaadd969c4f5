//! The arguments of `duplex bench`, the load generator, and of
//! `duplex bench merge`. Every count and rate has an upper bound checked at
//! parse time, so a typo cannot ask for a billion connections.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};

use super::values::{count, header, positive_duration, subprotocol};
use crate::endpoint::Endpoint;
use crate::options::{parse_duration, parse_endpoint};

#[derive(Debug, Args, Clone)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub command: Option<BenchCommand>,
    /// The servers to load, e.g. tcp://127.0.0.1:7007. Several URLs share
    /// the connections round-robin and are reported apart and in total.
    #[arg(value_name = "URL", value_parser = parse_endpoint, required = true)]
    pub urls: Vec<Endpoint>,
    /// Concurrent connections (UDP: sockets), over all URLs.
    #[arg(short = 'c', long, default_value_t = 50, value_parser = count(MAX_CONNECTIONS))]
    pub connections: usize,
    /// How long to measure (ignored with -n).
    #[arg(short = 'd', long, value_parser = positive_duration, default_value = "10s")]
    pub duration: Duration,
    /// Total messages to send, over all connections (instead of -d).
    #[arg(short = 'n', long, value_parser = clap::value_parser!(u64).range(1..))]
    pub messages: Option<u64>,
    /// Message size in bytes (echo).
    #[arg(short = 's', long, default_value_t = 64, value_parser = count(MAX_SIZE))]
    pub size: usize,
    /// Messages in flight per connection.
    #[arg(long, default_value_t = 1, value_parser = count(MAX_PIPELINE))]
    pub pipeline: usize,
    /// Time to run before measuring.
    #[arg(long, value_parser = parse_duration, default_value = "0s")]
    pub warmup: Duration,
    /// Give up on a reply after this long (counted as a timeout error).
    #[arg(long, value_parser = positive_duration, default_value = "5s")]
    pub timeout: Duration,
    /// Connect, echo one message, close, again: reports connections/s.
    #[arg(long, conflicts_with_all = ["pipeline", "hold"])]
    pub connect_rate: bool,
    /// Open loop: R messages/s in total, spread evenly over the connections;
    /// latency is measured from each message's intended send time.
    #[arg(long, value_name = "R", value_parser = positive_rate,
          conflicts_with_all = ["pipeline", "connect_rate", "hold"])]
    pub rate: Option<f64>,
    /// Open loop at R messages/s per connection (the same as --rate R×c).
    #[arg(long, value_name = "R", value_parser = positive_rate,
          conflicts_with_all = ["rate", "pipeline", "connect_rate", "hold"])]
    pub rate_per_conn: Option<f64>,
    /// Open the connections evenly over this time instead of all at once;
    /// the load starts on each as soon as it is open. The report says when
    /// the full count was reached.
    #[arg(long, value_name = "DURATION", value_parser = positive_duration,
          conflicts_with_all = ["connect_rate", "hold"])]
    pub ramp_up: Option<Duration>,
    /// Close each connection after this long and open a new one in its
    /// place (connection churn, like tcpkali's --channel-lifetime).
    #[arg(long, value_name = "DURATION", value_parser = positive_duration,
          conflicts_with_all = ["connect_rate", "hold"])]
    pub conn_lifetime: Option<Duration>,
    /// Latency sets to report, each as its own percentiles: connect (the
    /// connection and any handshake), first-byte (from the start of the
    /// connect to the first reply byte), rtt (each message's round trip).
    /// [default: rtt; with --connect-rate and --hold also connect]
    #[arg(long, value_enum, value_delimiter = ',', value_name = "SET,...")]
    pub latency: Vec<LatencySet>,
    /// Exit with status 3 when the result breaches this threshold
    /// (repeatable), e.g. 'p99>5ms', 'connect.p99>20ms', 'errors>0',
    /// 'rate<50000', 'mbps<100'.
    #[arg(long = "fail-if", value_name = "EXPR")]
    pub fail_if: Vec<String>,
    /// Also measure this server process (its threads and child processes):
    /// CPU time per message over the measured window and, with --hold, its
    /// memory per held connection.
    #[arg(long, value_name = "PID")]
    pub server_pid: Option<u32>,
    /// Draw the latency distribution (percentile curves) as an SVG file.
    #[arg(long, value_name = "FILE.svg", conflicts_with = "hold")]
    pub plot: Option<PathBuf>,
    /// Open N idle connections (one verified echo each) and hold them until
    /// -d passes or Ctrl-C: for measuring a server's memory per connection.
    #[arg(long, value_name = "N", value_parser = count(MAX_CONNECTIONS),
          conflicts_with_all = ["connections", "messages", "pipeline", "warmup"])]
    pub hold: Option<usize>,
    /// Random printable ASCII payloads; over ws:// and wss:// sent as text
    /// messages (default: random bytes, binary messages).
    #[arg(long)]
    pub text: bool,
    /// Request/reply mode for the line services (random, daytime, counter):
    /// every message is TEXT as one request (a line on tcp, unix and tls, a
    /// datagram on udp, a text message on ws and wss) and must get exactly
    /// one reply that is not empty and does not start with ERR (otherwise
    /// counted as bad_reply). MB/s then counts the reply bytes received.
    /// Example: --request '1 6' against `duplex serve random`.
    #[arg(long, value_name = "TEXT", conflicts_with_all = ["size", "text", "hold"])]
    pub request: Option<String>,
    /// With --request: the server greets every new connection with one reply
    /// (daytime does); it is read and checked before the first request and
    /// not counted as a message. Not for udp://, which has no connections.
    #[arg(long, requires = "request")]
    pub greeting: bool,
    /// WebSocket: extra request header, 'Name: value' (repeatable).
    #[arg(short = 'H', long = "header", value_name = "HEADER", value_parser = header)]
    pub headers: Vec<String>,
    /// WebSocket: subprotocol to ask for (Sec-WebSocket-Protocol).
    #[arg(long, value_parser = subprotocol)]
    pub protocol: Option<String>,
    /// WebSocket: offer permessage-deflate (RFC 7692) on every connection,
    /// without keeping context between messages; the server decides.
    #[arg(long)]
    pub compress: bool,
    /// Payloads of JSON-like text (records with ids, names, dates and
    /// numbers), sent as text messages over ws:// and wss://: what
    /// compression is measured with (random payloads do not compress).
    #[arg(long, conflicts_with = "text")]
    pub json_text: bool,
    /// TLS (tls://, wss://): also trust the certificates in this PEM file.
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// TLS: do not verify the server's certificate (says so on stderr).
    #[arg(long, conflicts_with = "ca")]
    pub insecure: bool,
    /// Print the result as one JSON object on stdout (with the latency
    /// histograms, for `duplex bench merge`).
    #[arg(long)]
    pub json: bool,
}

/// `duplex bench` subcommands.
#[derive(Debug, Subcommand, Clone)]
pub enum BenchCommand {
    /// Combine the --json reports of bench runs made at the same time (from
    /// several machines) into one report: rates and errors summed,
    /// percentiles from the merged histograms.
    #[command(after_help = "Example:
  duplex bench merge a.json b.json c.json --fail-if 'p99>5ms'")]
    Merge(MergeArgs),
}

#[derive(Debug, Args, Clone)]
pub struct MergeArgs {
    /// Reports written by `duplex bench URL --json`.
    #[arg(value_name = "REPORT.json", required = true)]
    pub files: Vec<PathBuf>,
    /// Print the merged result as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Draw the merged latency distribution as an SVG file.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// Exit with status 3 when the merged result breaches this threshold.
    #[arg(long = "fail-if", value_name = "EXPR")]
    pub fail_if: Vec<String>,
}

/// A latency set of `duplex bench --latency`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LatencySet {
    Connect,
    FirstByte,
    Rtt,
}

/// Largest `-c` and `--hold`.
pub const MAX_CONNECTIONS: usize = 1_000_000;
/// Largest `-s`: 16 MiB.
pub const MAX_SIZE: usize = 16 << 20;
/// Largest `--pipeline`.
pub const MAX_PIPELINE: usize = 4096;
/// Largest `--rate`: one message per microsecond.
pub const MAX_RATE: f64 = 1e6;

/// A message rate: a number of messages per second above zero.
fn positive_rate(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 && r <= MAX_RATE => Ok(r),
        _ => Err(format!(
            "'{s}' is not a rate: give messages per second, above 0 and at most {MAX_RATE:.0}"
        )),
    }
}
