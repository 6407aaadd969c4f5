//! One bridge (`duplex bridge FROM TO`, a `[[bridge]]`): its two ends and
//! how data crosses between them. Every option is checked against the two
//! ends, because most apply to some pairs of transports only.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use serde::Deserialize;

use super::parse::{duration, parse_duration, parse_endpoint, required};
use crate::endpoint::Endpoint;
use crate::relay::proxy::SendProxy;
use crate::server::ListenOptions;

/// One bridge: `duplex bridge FROM TO [bridge options]` and a `[[bridge]]`
/// table, which say the same thing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BridgeOptions {
    /// Where clients come: tcp://, unix://, tls://, udp://, ws:// or wss://
    /// (tls and wss with --tls-cert and --tls-key), e.g. tcp://:8000 or
    /// ws://:8080/vnc (a path of / takes every path).
    #[arg(value_name = "FROM", value_parser = parse_endpoint, required = true)]
    #[serde(deserialize_with = "required")]
    pub from: Option<Endpoint>,
    /// Where each session gets its own connection: tcp://, unix://, tls://,
    /// udp://, ws:// or wss://, e.g. tcp://127.0.0.1:80.
    #[arg(value_name = "TO", value_parser = parse_endpoint, required = true)]
    #[serde(deserialize_with = "required")]
    pub to: Option<Endpoint>,
    /// Give up reaching TO after this long (TLS handshake included); the
    /// client is then closed.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, help_heading = "Bridge")]
    #[serde(default, deserialize_with = "duration")]
    pub connect_timeout: Option<Duration>,
    /// Start every upstream stream with a PROXY protocol header carrying
    /// the client's address: v1 (text) or v2 (binary).
    #[arg(long, value_enum, value_name = "VERSION", help_heading = "Bridge")]
    pub send_proxy: Option<SendProxy>,
    /// Where a stream meets UDP or WebSocket: each line is one datagram or
    /// message (with its line break), and each datagram or message is
    /// written followed by a line break unless it ends with one.
    #[arg(long, help_heading = "Bridge")]
    #[serde(default)]
    pub lines: bool,
    /// Where bytes (a stream's, or UDP datagrams) meet WebSocket: send them
    /// as text messages rather than binary ones (bytes that are not UTF-8
    /// still go as binary).
    #[arg(long, help_heading = "Bridge")]
    #[serde(default)]
    pub text: bool,
    /// Bytes read at once, and the most a session holds per direction when
    /// a side is slow to take them; also the largest datagram made from a
    /// stream.
    #[arg(long, value_name = "BYTES", help_heading = "Bridge")]
    pub buffer_size: Option<usize>,
    /// With a UDP side: once the other side has ended, end the session when
    /// no datagram has come for this long; with a WebSocket side: that long
    /// after its close, whatever the other side still sends.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, help_heading = "Bridge")]
    #[serde(default, deserialize_with = "duration")]
    pub wait: Option<Duration>,
    /// A tls:// or wss:// TO: also trust the certificates in this PEM file.
    #[arg(long, value_name = "FILE", help_heading = "Bridge")]
    pub ca: Option<PathBuf>,
    /// A tls:// or wss:// TO: do not verify its certificate (said on stderr).
    #[arg(long, conflicts_with = "ca", help_heading = "Bridge")]
    #[serde(default)]
    pub insecure: bool,
    /// Share FROM's port with other processes (SO_REUSEPORT) on tcp, udp
    /// and tls, for several instances and rolling restarts.
    #[arg(long, help_heading = "Many instances")]
    #[serde(default)]
    pub reuse_port: bool,
    /// Every connection to FROM starts with a PROXY protocol header (v1 or
    /// v2) from a --trusted-proxy, naming the real client: the one logged
    /// and passed on by --send-proxy (tcp, unix, tls).
    #[arg(long, help_heading = "Many instances")]
    #[serde(default)]
    pub proxy_protocol: bool,
}

/// The largest `--buffer-size`: 16 MiB.
pub const MAX_BUFFER_SIZE: usize = 16 << 20;

impl BridgeOptions {
    /// FROM and TO, checked; and every option given checked against them
    /// (an option that would change nothing is a mistake worth reporting).
    pub fn check(&self) -> anyhow::Result<(&Endpoint, &Endpoint)> {
        let (Some(from), Some(to)) = (&self.from, &self.to) else {
            anyhow::bail!("a bridge needs FROM and TO");
        };
        let udp = |e: &Endpoint| matches!(e, Endpoint::Udp(_));
        let ws = |e: &Endpoint| matches!(e, Endpoint::Ws(_) | Endpoint::Wss(_));
        if let Some(version) = self.send_proxy {
            if udp(to) {
                anyhow::bail!("--send-proxy starts an upstream stream (tcp, unix, tls), not {to}");
            }
            if version == SendProxy::V1 && udp(from) {
                anyhow::bail!(
                    "--send-proxy v1 describes TCP clients only; for the UDP clients of {from} use v2"
                );
            }
        }
        if self.proxy_protocol && udp(from) {
            anyhow::bail!(
                "--proxy-protocol reads a header at the start of a stream; {from} is not one"
            );
        }
        let stream = |e: &Endpoint| !udp(e) && !ws(e);
        let messages = |e: &Endpoint| udp(e) || ws(e);
        if self.lines && !(stream(from) && messages(to) || messages(from) && stream(to)) {
            anyhow::bail!(
                "--lines applies where a stream meets UDP or WebSocket ({from} to {to} has no such pair)"
            );
        }
        if self.text && ws(from) == ws(to) {
            anyhow::bail!(
                "--text applies where bytes become WebSocket messages: one side ws or wss, the other not ({from} to {to})"
            );
        }
        if self.wait.is_some() && !messages(from) && !messages(to) {
            anyhow::bail!("--wait applies to bridges with a UDP or WebSocket side");
        }
        if !matches!(to, Endpoint::Tls(_) | Endpoint::Wss(_))
            && (self.ca.is_some() || self.insecure)
        {
            anyhow::bail!("--ca and --insecure apply to a tls:// or wss:// TO, not {to}");
        }
        if let Some(n) = self.buffer_size
            && !(1..=MAX_BUFFER_SIZE).contains(&n)
        {
            anyhow::bail!("--buffer-size must be between 1 and {MAX_BUFFER_SIZE} bytes");
        }
        Ok((from, to))
    }

    /// How FROM binds and accepts.
    pub fn listen_options(&self) -> ListenOptions {
        ListenOptions {
            reuse_port: self.reuse_port,
            proxy_protocol: self.proxy_protocol,
        }
    }
}
