//! What a server runs, handed to [`super::run`] fully built: the server
//! never reads flags or files, so it runs the same whether a command line,
//! a configuration file or a test put the plan together.

use std::sync::Arc;

use std::time::Duration;

use tokio_rustls::rustls::ServerConfig;

use super::limits::Limits;
use super::store::StoreSettings;
use crate::dial::DialOptions;
use crate::endpoint::Endpoint;
use crate::relay;
use crate::relay::proxy::SendProxy;
use crate::service::{Service, Stats};
use crate::websocket::Policy;

/// Everything one server process runs.
pub struct Plan {
    pub limits: Limits,
    /// permessage-deflate for WebSocket clients that offer it (`None`:
    /// never agreed).
    pub compression: Option<Policy>,
    /// The client count the server keeps: the same one every `counter`
    /// service of `services` was built to read.
    pub stats: Arc<Stats>,
    /// Every service, with where it listens.
    pub services: Vec<ServicePlan>,
    /// Every bridge, beside the services.
    pub bridges: Vec<BridgePlan>,
    /// Certificate and key for `tls://` and `wss://` listeners, loaded.
    pub tls: Option<Arc<ServerConfig>>,
    /// Where to serve Prometheus metrics (besides `/metrics` on every
    /// WebSocket listener): a `tcp://` endpoint.
    pub metrics: Option<Endpoint>,
    /// Keep the client count in a store several instances share
    /// (`--counter-store`); `stats` is then [`Stats::shared`].
    pub counter_store: Option<StoreSettings>,
    /// Tell the service manager (`NOTIFY_SOCKET`) when every listener is
    /// bound (`READY=1`) and when shutdown begins (`STOPPING=1`).
    pub notify: bool,
}

/// One built service and the listeners it runs on.
pub struct ServicePlan {
    pub service: Service,
    pub listen: Vec<Listen>,
    /// How those listeners bind and accept.
    pub options: ListenOptions,
}

/// How a service's listeners bind and accept, for running several
/// instances side by side (docs/behaviour.md, "Many instances").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListenOptions {
    /// `SO_REUSEPORT` on tcp, udp, tls, ws and wss listeners: several
    /// processes share the port.
    pub reuse_port: bool,
    /// Every connection of a stream listener starts with a PROXY protocol
    /// header from a trusted load balancer.
    pub proxy_protocol: bool,
}

/// A bridge: every session accepted on `from` relayed to its own
/// connection to `to`.
pub struct BridgePlan {
    pub from: Listen,
    /// How `from` binds and accepts.
    pub options: ListenOptions,
    pub to: Endpoint,
    /// How `to` is reached: `--connect-timeout` (each step: connecting,
    /// the TLS handshake, the WebSocket handshake), `--ca`, `--insecure`,
    /// and for a WebSocket `to` the message limit and compression.
    pub dial: DialOptions,
    /// Start every upstream stream with a PROXY protocol header.
    pub send_proxy: Option<SendProxy>,
    pub relay: relay::Settings,
    /// After one side of a session with a UDP side ended, end it once
    /// nothing has come for this long.
    pub wait: Duration,
}

impl BridgePlan {
    /// The default `connect_timeout`, as `duplex connect`'s.
    pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
    /// The default `wait`, as `duplex connect`'s.
    pub const WAIT: Duration = Duration::from_secs(1);
}

/// A listener of a plan: an endpoint to bind when the server starts, or a
/// socket bound already.
pub enum Listen {
    /// Bind this endpoint (port 0: a free port, announced with the real one).
    Url(Endpoint),
    /// Serve a socket the caller bound already, the way `url` says (its
    /// scheme, and its path for `ws://`); the address is the socket's own.
    /// A test binds port 0 and knows the port before the server starts.
    Bound(Prebound, Endpoint),
}

impl From<Endpoint> for Listen {
    fn from(url: Endpoint) -> Listen {
        Listen::Url(url)
    }
}

/// A listening socket bound outside the server. A Unix socket's file is
/// left in place when the server stops: whoever bound it owns it.
#[derive(Debug)]
pub enum Prebound {
    /// For `tcp://`, `tls://`, `ws://` and `wss://`.
    Tcp(std::net::TcpListener),
    Udp(std::net::UdpSocket),
    Unix(std::os::unix::net::UnixListener),
}
