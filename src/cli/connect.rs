//! The arguments of `duplex connect`, the nc-like client: each flag says
//! which transport it is for, and clap rejects the combinations that would
//! mean nothing (`-z` with `--quit-after`, `-l` with `--ca`).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::values::{count, header, positive_duration, subprotocol, websocket_options};
use crate::endpoint::Endpoint;
use crate::options::{parse_duration, parse_endpoint};

#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// The server, e.g. tcp://127.0.0.1:7007 (with --listen: where to
    /// listen, e.g. tcp://:7000).
    #[arg(value_parser = parse_endpoint)]
    pub url: Endpoint,
    /// Listen on URL and serve one client with stdin and stdout, then exit
    /// (nc -l).
    ///
    /// tcp, unix, tls (with --tls-cert and --tls-key) and udp. Over UDP the
    /// first datagram's sender is the peer, as with nc -lu; a datagram from
    /// another sender is printed too, and replies go to whoever sent last.
    /// The bound address is logged on stderr (port 0: the real port).
    #[arg(short = 'l', long, conflicts_with_all = ["zero_io", "ca", "insecure", "headers", "protocol"])]
    pub listen: bool,
    /// With --listen: after a client's session, listen for the next one
    /// (nc -k). Stdin is shared: once it has ended, later sessions get its
    /// end at once.
    #[arg(short = 'k', long, requires = "listen")]
    pub keep_listening: bool,
    /// With --listen on tls://: the certificate chain (PEM).
    #[arg(long, value_name = "FILE", requires_all = ["listen", "tls_key"])]
    pub tls_cert: Option<PathBuf>,
    /// With --listen on tls://: the private key (PEM).
    #[arg(long, value_name = "FILE", requires_all = ["listen", "tls_cert"])]
    pub tls_key: Option<PathBuf>,
    /// Only check that the server is there, then exit 0 or 1 (nc -z).
    ///
    /// Connects, completes the TLS and WebSocket handshakes, and closes at
    /// once: exit 0 when that worked, 1 with one line on stderr when not.
    /// UDP has no connection: it sends one empty line ("\n") and waits
    /// --wait. A reply means open (0); an ICMP port unreachable means closed
    /// (1); silence means open or filtered, which UDP cannot tell apart (0,
    /// said on stderr).
    #[arg(short = 'z', long = "zero-io", conflicts_with_all = ["quit_after", "binary", "strip_newline"])]
    pub zero_io: bool,
    /// Give up connecting after this long [default: -w when given, else 10s].
    ///
    /// Covers the TLS and WebSocket handshakes too.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// Give up (exit 1) after this long without data either way (nc -w).
    ///
    /// Data sent and data received both count. Also the connect timeout
    /// unless --timeout is given, as with nc -w. UDP: only until stdin
    /// ends; after that --wait decides. Default: never.
    #[arg(short = 'w', long, value_name = "DURATION", value_parser = positive_duration)]
    pub idle_timeout: Option<Duration>,
    /// Quit (exit 0) this long after stdin ends; also `-q SECS`, as nc
    /// spells it (`-q` without a duration stays the quiet flag).
    ///
    /// 0 quits at stdin EOF, once stdin's data is sent. Without it, TCP,
    /// Unix and TLS wait for the server to close (forever if it never
    /// does), UDP for --wait without a datagram, and WebSocket closes at
    /// once; with it, WebSocket keeps receiving until the time is up, then
    /// closes with 1000. Either way a session the server ends first ends
    /// then.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub quit_after: Option<Duration>,
    /// UDP: after stdin ends, exit once no datagram has come for this long.
    ///
    /// Also how long -z waits for an answer over UDP.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "1s")]
    pub wait: Duration,
    /// UDP: send each line without its line break.
    ///
    /// By default a datagram carries its line as read, "\n" (or "\r\n")
    /// included, as nc -u sends it; an empty line is the 1-byte datagram
    /// "\n". With this flag the line break is left out (an empty line is an
    /// empty datagram). WebSocket messages never carry the line break.
    #[arg(long)]
    pub strip_newline: bool,
    /// WebSocket: send binary messages instead of text.
    #[arg(long)]
    pub binary: bool,
    /// WebSocket: extra request header, 'Name: value' (repeatable).
    #[arg(short = 'H', long = "header", value_name = "HEADER", value_parser = header)]
    pub headers: Vec<String>,
    /// WebSocket: subprotocol to ask for.
    #[arg(long, value_parser = subprotocol)]
    pub protocol: Option<String>,
    /// WebSocket: offer permessage-deflate (RFC 7692); the server decides.
    ///
    /// duplex's client never keeps its compression context between
    /// messages (it says so in its offer), so its memory stays bounded.
    #[arg(long)]
    pub compress: bool,
    /// WebSocket: the largest message sent or accepted, in bytes (a
    /// compressed one: once inflated). A larger incoming message ends the
    /// session with close 1009 before it is inflated in full.
    #[arg(long, value_name = "BYTES", default_value_t = MAX_MESSAGE, value_parser = count(usize::MAX))]
    pub max_message: usize,
    /// TLS: also trust the certificates in this PEM file.
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// TLS: do not verify the server's certificate (says so on stderr).
    #[arg(long, conflicts_with = "ca")]
    pub insecure: bool,
}

/// Largest message the client sends or accepts by default
/// (`--max-message`).
pub const MAX_MESSAGE: usize = 64 << 20;

impl ConnectArgs {
    /// How `connect` reaches its server.
    pub fn dial_options(&self, max_message: usize) -> crate::dial::DialOptions {
        crate::dial::DialOptions {
            timeout: self.connect_timeout(),
            ca: self.ca.clone(),
            insecure: self.insecure,
            websocket: websocket_options(
                &self.headers,
                self.protocol.as_deref(),
                self.compress,
                max_message,
            ),
        }
    }

    /// `--timeout`, else `-w` (as `nc -w` bounds connecting too), else 10 s.
    pub fn connect_timeout(&self) -> Duration {
        self.timeout
            .or(self.idle_timeout)
            .unwrap_or(Duration::from_secs(10))
    }
}
