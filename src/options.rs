//! One definition of every option of `duplex serve`: each struct here is a
//! group of flags (clap) and a table of the configuration file (serde) at
//! once, so that `--max-line` and `max_line`, their meaning and their type
//! cannot drift apart.
//!
//! A field that is `None` (or empty) was not given there. Values are laid
//! over each other by one function per struct ([`LimitOptions::apply`]:
//! the file's over the defaults, the flags' over the file's), and every
//! default lives where the setting it belongs to is defined:
//! [`Limits::default`], [`RandomConfig::default`] and
//! [`DaytimeFormat::default`]. [`defaults`] reads them from there for the
//! help text and for `duplex config`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use serde::{Deserialize, Deserializer};

use ipnet::IpNet;

use crate::endpoint::Endpoint;
use crate::proxy_header;
use crate::relay::proxy::SendProxy;
use crate::server::{BridgePlan, Limits, ListenOptions, StoreSettings};
use crate::service::{DaytimeFormat, RandomConfig};
use crate::websocket::Policy;
use crate::websocket::deflate::WINDOW_BITS;

/// The services `duplex serve` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceName {
    Echo,
    Daytime,
    Random,
    Counter,
}

impl ServiceName {
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceName::Echo => "echo",
            ServiceName::Daytime => "daytime",
            ServiceName::Random => "random",
            ServiceName::Counter => "counter",
        }
    }
}

/// Server limits: the limit flags of `duplex serve` and the `[limits]`
/// table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitOptions {
    /// Most client sessions open at once, over all listeners.
    #[arg(long, help_heading = "Limits")]
    pub max_connections: Option<usize>,
    /// Close a session after this long without traffic.
    #[arg(long, value_parser = parse_duration, help_heading = "Limits")]
    #[serde(default, deserialize_with = "duration")]
    pub idle_timeout: Option<Duration>,
    /// Longest request line in bytes.
    #[arg(long, help_heading = "Limits")]
    pub max_line: Option<usize>,
    /// Largest WebSocket message in bytes.
    #[arg(long, help_heading = "Limits")]
    pub max_message: Option<usize>,
    /// How long graceful shutdown may take.
    #[arg(long, value_parser = parse_duration, help_heading = "Limits")]
    #[serde(default, deserialize_with = "duration")]
    pub shutdown_timeout: Option<Duration>,
    /// WebSocket: ping clients this often and drop those that stop answering
    /// (0: never) [default: off].
    #[arg(long, value_parser = parse_duration, help_heading = "Limits")]
    #[serde(default, deserialize_with = "duration")]
    pub ping_interval: Option<Duration>,
    /// WebSocket: a browser origin allowed to connect besides the listener's
    /// own: `https://app.example.com`, `app.example.com`, `*.example.com` or
    /// `*` (repeatable) [default: the listener's own and loopback pages].
    #[arg(
        long = "allowed-origin",
        value_name = "ORIGIN",
        help_heading = "Limits"
    )]
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// --proxy-protocol: close a connection whose PROXY header has not come
    /// whole within this time.
    #[arg(long, value_parser = parse_duration, help_heading = "Many instances")]
    #[serde(default, deserialize_with = "duration")]
    pub proxy_timeout: Option<Duration>,
    /// --proxy-protocol: longest PROXY header accepted, in bytes (v2 headers
    /// carry TLVs).
    #[arg(long, value_name = "BYTES", help_heading = "Many instances")]
    pub proxy_max_header: Option<usize>,
    /// --proxy-protocol: believe PROXY headers from this address or CIDR
    /// block only (repeatable) [default: 127.0.0.0/8 and ::1; peers of a
    /// unix listener are trusted].
    #[arg(
        long = "trusted-proxy",
        value_name = "CIDR",
        value_parser = parse_cidr,
        help_heading = "Many instances"
    )]
    #[serde(default, deserialize_with = "cidrs")]
    pub trusted_proxies: Vec<IpNet>,
}

impl LimitOptions {
    /// `base` with every limit given here put in: the file's limits over
    /// the defaults, then the flags' over the file's. A zero
    /// `ping_interval` turns pings off; the result is checked.
    pub fn apply(&self, mut base: Limits) -> anyhow::Result<Limits> {
        // Destructured so that a new option cannot be forgotten here.
        let LimitOptions {
            max_connections,
            idle_timeout,
            max_line,
            max_message,
            shutdown_timeout,
            ping_interval,
            allowed_origins,
            proxy_timeout,
            proxy_max_header,
            trusted_proxies,
        } = self;
        let l = &mut base;
        l.max_connections = max_connections.unwrap_or(l.max_connections);
        l.idle_timeout = idle_timeout.unwrap_or(l.idle_timeout);
        l.max_line = max_line.unwrap_or(l.max_line);
        l.max_message = max_message.unwrap_or(l.max_message);
        l.shutdown_timeout = shutdown_timeout.unwrap_or(l.shutdown_timeout);
        if let Some(p) = ping_interval {
            l.ping_interval = (!p.is_zero()).then_some(*p);
        }
        if !allowed_origins.is_empty() {
            l.allowed_origins = allowed_origins.clone();
        }
        l.proxy_timeout = proxy_timeout.unwrap_or(l.proxy_timeout);
        l.proxy_max_header = proxy_max_header.unwrap_or(l.proxy_max_header);
        if !trusted_proxies.is_empty() {
            l.trusted_proxies = trusted_proxies.clone();
        }
        check(l)?;
        Ok(base)
    }
}

fn check(l: &Limits) -> anyhow::Result<()> {
    if l.max_connections == 0 {
        anyhow::bail!("max-connections must be at least 1");
    }
    if l.max_line == 0 {
        anyhow::bail!("max-line must be at least 1");
    }
    if l.max_message == 0 {
        anyhow::bail!("max-message must be at least 1");
    }
    if l.idle_timeout.is_zero() {
        anyhow::bail!("idle-timeout must be longer than 0");
    }
    if l.proxy_timeout.is_zero() {
        anyhow::bail!("proxy-timeout must be longer than 0");
    }
    if l.proxy_max_header < proxy_header::V1_MAX {
        anyhow::bail!(
            "proxy-max-header must be at least {} (the longest v1 header)",
            proxy_header::V1_MAX
        );
    }
    Ok(())
}

/// On or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Switch {
    On,
    Off,
}

/// WebSocket permessage-deflate (RFC 7692): the compression flags of
/// `duplex serve` and the `[websocket]` table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebSocketOptions {
    /// Agree to permessage-deflate when a client offers it (browsers always
    /// do), or never [default: on].
    #[arg(long, value_enum, help_heading = "WebSocket")]
    pub compression: Option<Switch>,
    /// Let compressing sides keep their context from message to message:
    /// better compression of small messages, about 320 KiB more memory per
    /// connection (without it no deflate state outlives a message).
    #[arg(long, help_heading = "WebSocket")]
    #[serde(default)]
    pub compression_context: bool,
    /// Largest LZ77 window either side may use, in bits (9 to 15): a
    /// smaller window caps what a client with context takeover keeps
    /// (2^bits bytes) and compresses less.
    #[arg(long, value_name = "BITS", value_parser = window_bits, help_heading = "WebSocket")]
    pub compression_window_bits: Option<u8>,
}

impl WebSocketOptions {
    /// `base` with what is given here put in: the file's over the defaults,
    /// then the flags' over the file's. `None` is compression off.
    pub fn apply(&self, base: Option<Policy>) -> anyhow::Result<Option<Policy>> {
        // Destructured so that a new option cannot be forgotten here.
        let WebSocketOptions {
            compression,
            compression_context,
            compression_window_bits,
        } = self;
        if let Some(bits) = compression_window_bits {
            window_bits(&bits.to_string()).map_err(anyhow::Error::msg)?;
        }
        let on = match compression {
            Some(Switch::On) => true,
            Some(Switch::Off) => false,
            None => base.is_some(),
        };
        if !on {
            return Ok(None);
        }
        let mut policy = base.unwrap_or_default();
        policy.context_takeover |= *compression_context;
        if let Some(bits) = compression_window_bits {
            policy.window_bits = *bits;
        }
        Ok(Some(policy))
    }
}

/// A window size in bits that deflate can use.
fn window_bits(s: &str) -> Result<u8, String> {
    s.trim()
        .parse::<u8>()
        .ok()
        .filter(|b| WINDOW_BITS.contains(b))
        .ok_or_else(|| {
            format!(
                "'{s}' is not a window size: give bits from {} to {}",
                WINDOW_BITS.start(),
                WINDOW_BITS.end()
            )
        })
}

/// One service and where it listens: `duplex serve SERVICE URL… [service
/// options]` and a `[[listener]]` table, which say the same thing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerOptions {
    /// The service to run.
    #[arg(value_enum, requires = "urls", conflicts_with = "config")]
    #[serde(deserialize_with = "required")]
    pub service: Option<ServiceName>,
    /// Endpoints to listen on, e.g. tcp://:7007 udp://127.0.0.1:7007 unix:///tmp/x.sock.
    #[arg(value_name = "URL", value_parser = parse_endpoint)]
    pub urls: Vec<Endpoint>,
    /// daytime: how the time is written.
    #[arg(long, value_enum, help_heading = "Service options")]
    pub format: Option<DaytimeFormat>,
    /// daytime: UTC instead of local time.
    #[arg(long, help_heading = "Service options")]
    #[serde(default)]
    pub utc: bool,
    /// daytime: send the time once and close (strict RFC 867).
    #[arg(long, help_heading = "Service options")]
    #[serde(default)]
    pub once: bool,
    /// random: smallest number of the server range.
    #[arg(long, allow_hyphen_values = true, help_heading = "Service options")]
    pub min: Option<i64>,
    /// random: largest number of the server range.
    #[arg(long, allow_hyphen_values = true, help_heading = "Service options")]
    pub max: Option<i64>,
    /// random: most numbers one request may ask for.
    #[arg(long, help_heading = "Service options")]
    pub max_count: Option<u64>,
    /// random: pick from this comma-separated list instead of a range.
    #[arg(long, value_delimiter = ',', help_heading = "Service options")]
    #[serde(default)]
    pub choices: Vec<String>,
    /// random: seed for reproducible numbers (tests); default is OS-seeded ChaCha.
    #[arg(long, help_heading = "Service options")]
    pub seed: Option<u64>,
    /// Share the port with other processes (SO_REUSEPORT) on tcp, udp, tls,
    /// ws and wss listeners, for several instances and rolling restarts.
    #[arg(long, help_heading = "Many instances")]
    #[serde(default)]
    pub reuse_port: bool,
    /// Every connection starts with a PROXY protocol header (v1 or v2) from a
    /// --trusted-proxy, naming the real client (tcp, unix, tls, ws, wss).
    #[arg(long, help_heading = "Many instances")]
    #[serde(default)]
    pub proxy_protocol: bool,
}

impl ListenerOptions {
    /// The service options given, each with the one service it is for.
    fn service_options(&self) -> impl Iterator<Item = (&'static str, ServiceName)> {
        use ServiceName::{Daytime, Random};
        [
            ("format", Daytime, self.format.is_some()),
            ("utc", Daytime, self.utc),
            ("once", Daytime, self.once),
            ("min", Random, self.min.is_some()),
            ("max", Random, self.max.is_some()),
            ("max-count", Random, self.max_count.is_some()),
            ("choices", Random, !self.choices.is_empty()),
            ("seed", Random, self.seed.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, owner, given)| given.then_some((name, owner)))
    }

    /// True when any service option is given.
    pub fn has_service_options(&self) -> bool {
        self.service_options().next().is_some()
    }

    /// Options given to a service they do not apply to are mistakes worth
    /// reporting, not silently ignoring.
    pub fn check(&self, service: ServiceName) -> anyhow::Result<()> {
        match self.service_options().find(|(_, owner)| *owner != service) {
            Some((name, owner)) => anyhow::bail!(
                "--{name} applies to the {} service only, not to {}",
                owner.as_str(),
                service.as_str()
            ),
            None => Ok(()),
        }
    }

    /// How this listener binds and accepts.
    pub fn listen_options(&self) -> ListenOptions {
        ListenOptions {
            reuse_port: self.reuse_port,
            proxy_protocol: self.proxy_protocol,
        }
    }

    /// The settings of the `random` service, over its defaults.
    pub fn random(&self) -> RandomConfig {
        let d = RandomConfig::default();
        RandomConfig {
            min: self.min.unwrap_or(d.min),
            max: self.max.unwrap_or(d.max),
            max_count: self.max_count.unwrap_or(d.max_count),
            choices: self.choices.clone(),
            seed: self.seed,
        }
    }
}

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

/// The certificate and key of `tls://` and `wss://` listeners:
/// `--tls-cert`/`--tls-key` and the `[tls]` table (where both are needed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsOptions {
    /// TLS certificate chain (PEM) for tls:// and wss:// listeners.
    #[arg(long, value_name = "FILE", requires = "tls_key", help_heading = "TLS")]
    #[serde(rename = "cert", deserialize_with = "required")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM) for tls:// and wss:// listeners.
    #[arg(long, value_name = "FILE", requires = "tls_cert", help_heading = "TLS")]
    #[serde(rename = "key", deserialize_with = "required")]
    pub tls_key: Option<PathBuf>,
}

/// Where `counter` keeps its count: `--counter-store`, `--counter-key`,
/// `--counter-timeout` and the `[counter]` table (`store`, `key`,
/// `timeout`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CounterOptions {
    /// Count the clients of every instance that shares this Redis,
    /// redis://HOST:PORT[/DB] (one INCR per new client) [default: each
    /// process counts its own].
    #[arg(long, value_name = "URL", value_parser = parse_store_url, help_heading = "Many instances")]
    #[serde(rename = "store", default, deserialize_with = "store_url")]
    pub counter_store: Option<String>,
    /// --counter-store: the key that holds the count.
    #[arg(long, value_name = "KEY", help_heading = "Many instances")]
    #[serde(rename = "key")]
    pub counter_key: Option<String>,
    /// --counter-store: how long one command may take before the store
    /// counts as unavailable.
    #[arg(long, value_parser = parse_duration, help_heading = "Many instances")]
    #[serde(rename = "timeout", default, deserialize_with = "duration")]
    pub counter_timeout: Option<Duration>,
}

impl CounterOptions {
    /// These options over `base` (the flags over the file's).
    pub fn over(&self, base: &CounterOptions) -> CounterOptions {
        CounterOptions {
            counter_store: self.counter_store.clone().or(base.counter_store.clone()),
            counter_key: self.counter_key.clone().or(base.counter_key.clone()),
            counter_timeout: self.counter_timeout.or(base.counter_timeout),
        }
    }

    /// The store, if one is given; its key and timeout otherwise are
    /// mistakes worth reporting.
    pub fn settings(&self) -> anyhow::Result<Option<StoreSettings>> {
        let Some(url) = &self.counter_store else {
            if self.counter_key.is_some() || self.counter_timeout.is_some() {
                anyhow::bail!(
                    "--counter-key and --counter-timeout apply with --counter-store only"
                );
            }
            return Ok(None);
        };
        let timeout = self
            .counter_timeout
            .unwrap_or(StoreSettings::DEFAULT_TIMEOUT);
        if timeout.is_zero() {
            anyhow::bail!("counter-timeout must be longer than 0");
        }
        let key = self
            .counter_key
            .clone()
            .unwrap_or_else(|| StoreSettings::DEFAULT_KEY.to_string());
        if key.is_empty() {
            anyhow::bail!("counter-key cannot be empty");
        }
        Ok(Some(StoreSettings {
            url: url.clone(),
            key,
            timeout,
        }))
    }
}

/// Parses a `--counter-store` URL: `redis://HOST:PORT[/DB]`.
pub fn parse_store_url(s: &str) -> Result<String, String> {
    let example = "(for example redis://127.0.0.1:6379/0)";
    if !s.starts_with("redis://") {
        return Err(format!("'{s}' is not a redis:// URL {example}"));
    }
    redis::Client::open(s)
        .map(|_| s.to_string())
        .map_err(|e| format!("'{s}': {e} {example}"))
}

/// A `--counter-store` URL in a configuration file.
fn store_url<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = String::deserialize(d)?;
    parse_store_url(&s)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

/// The default of every option that has one, by its key in the
/// configuration file (the flag is the key with dashes; `counter_key` is
/// `key` in the `[counter]` table, as `--counter-key`), written as TOML: read
/// from where each default is defined.
pub fn defaults() -> Vec<(&'static str, toml::Value)> {
    use toml::Value;
    let limits = Limits::default();
    let random = RandomConfig::default();
    let compression = Policy::default();
    let int = |n: u64| Value::Integer(i64::try_from(n).unwrap_or(i64::MAX));
    let duration = |d: Duration| Value::String(humantime::format_duration(d).to_string());
    let format = DaytimeFormat::default()
        .to_possible_value()
        .map_or_else(String::new, |v| v.get_name().to_string());
    vec![
        ("max_connections", int(limits.max_connections as u64)),
        ("idle_timeout", duration(limits.idle_timeout)),
        ("max_line", int(limits.max_line as u64)),
        ("max_message", int(limits.max_message as u64)),
        ("shutdown_timeout", duration(limits.shutdown_timeout)),
        (
            "ping_interval",
            limits.ping_interval.map_or(Value::Integer(0), duration),
        ),
        ("allowed_origins", Value::Array(Vec::new())),
        ("proxy_timeout", duration(limits.proxy_timeout)),
        ("proxy_max_header", int(limits.proxy_max_header as u64)),
        (
            "trusted_proxies",
            Value::Array(
                limits
                    .trusted_proxies
                    .iter()
                    .map(|n| Value::String(n.to_string()))
                    .collect(),
            ),
        ),
        ("compression", Value::String("on".into())),
        (
            "compression_context",
            Value::Boolean(compression.context_takeover),
        ),
        (
            "compression_window_bits",
            int(u64::from(compression.window_bits)),
        ),
        ("format", Value::String(format)),
        ("utc", Value::Boolean(false)),
        ("once", Value::Boolean(false)),
        ("min", Value::Integer(random.min)),
        ("max", Value::Integer(random.max)),
        ("max_count", int(random.max_count)),
        ("reuse_port", Value::Boolean(false)),
        ("proxy_protocol", Value::Boolean(false)),
        (
            "counter_key",
            Value::String(StoreSettings::DEFAULT_KEY.to_string()),
        ),
        ("counter_timeout", duration(StoreSettings::DEFAULT_TIMEOUT)),
        ("connect_timeout", duration(BridgePlan::CONNECT_TIMEOUT)),
        (
            "buffer_size",
            int(crate::relay::Settings::default().buffer as u64),
        ),
        ("wait", duration(BridgePlan::WAIT)),
    ]
}

/// Parses an endpoint URL for clap: a bad URL is a usage error (exit 2).
pub fn parse_endpoint(s: &str) -> Result<Endpoint, String> {
    s.parse::<Endpoint>().map_err(|e| e.to_string())
}

/// Parses a `--trusted-proxy`: a CIDR block (`10.0.0.0/8`, `fd00::/8`) or
/// one address (`10.0.0.7`).
pub fn parse_cidr(s: &str) -> Result<IpNet, String> {
    let t = s.trim();
    t.parse::<IpNet>()
        .or_else(|_| t.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| format!("'{s}' is not an address or CIDR block (for example 10.0.0.0/8)"))
}

/// `--trusted-proxy` values in a configuration file.
fn cidrs<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<IpNet>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|s| parse_cidr(s))
        .collect::<Result<_, _>>()
        .map_err(serde::de::Error::custom)
}

/// Parses `500ms`, `3s`, `5m`, `1h`, or a bare number of seconds (`2.5`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if let Ok(secs) = t.parse::<f64>() {
        return Duration::try_from_secs_f64(secs)
            .map_err(|_| format!("'{s}' is not a duration (for example 500ms, 3s, 5m)"));
    }
    humantime::parse_duration(t)
        .map_err(|_| format!("'{s}' is not a duration (for example 500ms, 3s, 5m)"))
}

/// A duration in a configuration file: `"500ms"`, `"5m"`, or a number of
/// seconds.
fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Written {
        Text(String),
        Seconds(u64),
        Fraction(f64),
    }
    let parsed = match Written::deserialize(d)? {
        Written::Text(s) => parse_duration(&s),
        Written::Seconds(s) => Ok(Duration::from_secs(s)),
        Written::Fraction(f) => {
            Duration::try_from_secs_f64(f).map_err(|_| format!("{f} is not a duration"))
        }
    };
    parsed.map(Some).map_err(serde::de::Error::custom)
}

/// A key the configuration file must have, held in an `Option` because the
/// command line may leave it out.
fn required<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("3s"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("0.25"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("-1").is_err());
        assert!(parse_duration("soon").is_err());
    }

    /// Every default, written into a configuration file, is read back as
    /// that default: the keys are the file's own, the values the right type.
    #[test]
    fn every_default_is_a_key_of_the_file() {
        let mut limits = toml::Table::new();
        let mut websocket = toml::Table::new();
        let mut listener = toml::Table::new();
        let mut counter = toml::Table::new();
        counter.insert("store".into(), "redis://127.0.0.1:6379".into());
        listener.insert("service".into(), "echo".into());
        listener.insert("urls".into(), toml::Value::Array(Vec::new()));
        let mut bridge = toml::Table::new();
        bridge.insert("from".into(), "udp://127.0.0.1:1".into());
        bridge.insert("to".into(), "tcp://127.0.0.1:2".into());
        for (key, value) in defaults() {
            if let Some(key) = key.strip_prefix("counter_") {
                counter.insert(key.to_string(), value);
                continue;
            }
            let table = match key {
                "format" | "utc" | "once" | "min" | "max" | "max_count" | "reuse_port"
                | "proxy_protocol" => &mut listener,
                k if k.starts_with("compression") => &mut websocket,
                "connect_timeout" | "buffer_size" | "wait" => &mut bridge,
                _ => &mut limits,
            };
            table.insert(key.to_string(), value);
        }
        let limits: LimitOptions = limits.try_into().expect("limits");
        assert_eq!(
            limits.apply(Limits::default()).expect("valid"),
            Limits::default()
        );
        let websocket: WebSocketOptions = websocket.try_into().expect("websocket");
        assert_eq!(
            websocket.apply(None).expect("valid"),
            Some(Policy::default())
        );
        let listener: ListenerOptions = listener.try_into().expect("listener");
        assert_eq!(listener.random(), RandomConfig::default());
        let counter: CounterOptions = counter.try_into().expect("counter");
        let store = counter.settings().expect("valid").expect("a store");
        assert_eq!(store.key, StoreSettings::DEFAULT_KEY);
        assert_eq!(store.timeout, StoreSettings::DEFAULT_TIMEOUT);
        assert_eq!(listener.format, Some(DaytimeFormat::default()));
        let bridge: BridgeOptions = bridge.try_into().expect("bridge");
        bridge.check().expect("valid bridge");
        assert_eq!(bridge.connect_timeout, Some(BridgePlan::CONNECT_TIMEOUT));
        assert_eq!(bridge.wait, Some(BridgePlan::WAIT));
        assert_eq!(
            bridge.buffer_size,
            Some(crate::relay::Settings::default().buffer)
        );
    }

    #[test]
    fn compression_flags_over_file_over_defaults() {
        let file = WebSocketOptions {
            compression_window_bits: Some(10),
            ..WebSocketOptions::default()
        };
        let from_file = file.apply(Some(Policy::default())).expect("file");
        assert_eq!(from_file.map(|p| p.window_bits), Some(10));
        let off = WebSocketOptions {
            compression: Some(Switch::Off),
            ..WebSocketOptions::default()
        };
        assert_eq!(off.apply(from_file).expect("flags"), None);
        let context = WebSocketOptions {
            compression_context: true,
            ..WebSocketOptions::default()
        };
        let both = context.apply(from_file).expect("flags").expect("on");
        assert!(both.context_takeover);
        assert_eq!(both.window_bits, 10);
        let bad = WebSocketOptions {
            compression_window_bits: Some(8),
            ..WebSocketOptions::default()
        };
        assert!(bad.apply(None).is_err());
    }

    #[test]
    fn flags_over_file_over_defaults() {
        let file = LimitOptions {
            max_line: Some(10),
            ping_interval: Some(Duration::from_secs(3)),
            ..LimitOptions::default()
        };
        let flags = LimitOptions {
            max_line: Some(20),
            ping_interval: Some(Duration::ZERO),
            ..LimitOptions::default()
        };
        let from_file = file.apply(Limits::default()).expect("file");
        assert_eq!(from_file.max_line, 10);
        assert_eq!(from_file.ping_interval, Some(Duration::from_secs(3)));
        let merged = flags.apply(from_file).expect("flags");
        assert_eq!(merged.max_line, 20);
        assert_eq!(merged.ping_interval, None);
        assert_eq!(merged.idle_timeout, Limits::default().idle_timeout);
    }
}
