//! Reaching a server, for `duplex connect`, `duplex bench` and relays: one
//! [`Dialer`] resolves the host, connects within a timeout, completes the
//! TLS handshake and the WebSocket handshake, and words every failure the
//! same way: `cannot connect to URL: why`.
//!
//! ```text
//! let dialer = Dialer::new(DialOptions { timeout, ca, insecure, websocket });
//! match dialer.dial(&url).await? {
//!     Connection::Stream(s) => …,      // tcp, unix, tls: bytes
//!     Connection::Datagram(u) => …,    // udp: a connected socket
//!     Connection::WebSocket(ws) => …,  // ws, wss: whole messages
//! }
//! ```
//!
//! A caller that opens many connections to one server (the bench) resolves
//! once with [`Dialer::target`] and then opens each connection with the
//! typed steps ([`Dialer::tcp`], [`Dialer::tls`], [`Dialer::websocket`]…),
//! which keep the stream types concrete.

use std::borrow::Cow;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use hyper::header::HeaderValue;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UdpSocket, UnixStream};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::endpoint::{Endpoint, HostPort, WsTarget};
use crate::websocket::{ClientOptions, Handshaken};

/// How to reach servers.
#[derive(Clone)]
pub struct DialOptions {
    /// The longest each step may take: connecting, the TLS handshake, the
    /// WebSocket handshake.
    pub timeout: Duration,
    /// TLS: trust the certificates of this PEM file besides the system's.
    pub ca: Option<PathBuf>,
    /// TLS: verify no certificate at all (said once on stderr).
    pub insecure: bool,
    /// WebSocket: headers, subprotocol, compression and message limit.
    pub websocket: ClientOptions,
}

/// Which step of reaching a server failed, for callers that count
/// failures by kind (a bridge's metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The host name could not be resolved.
    Dns,
    /// Nothing listens there (TCP reset, ICMP port unreachable, no such
    /// socket file).
    Refused,
    /// A step took longer than the timeout.
    Timeout,
    /// The TLS handshake failed (a bad certificate, not TLS at all).
    Tls,
    /// The server refused or botched the WebSocket handshake.
    WebSocket,
    /// Anything else (bad settings, permission denied…).
    Other,
}

/// A failure to reach a server, as one line: `cannot connect to URL: why`.
#[derive(Debug, thiserror::Error)]
#[error("cannot connect to {url}: {why}")]
pub struct DialError {
    url: String,
    why: String,
    /// What kind of failure, for callers that count them.
    kind: io::ErrorKind,
    failure: Failure,
}

impl DialError {
    fn new(
        url: &Endpoint,
        why: impl std::fmt::Display,
        kind: io::ErrorKind,
        failure: Failure,
    ) -> DialError {
        DialError {
            url: url.to_string(),
            why: why.to_string(),
            kind,
            failure,
        }
    }

    fn io(url: &Endpoint, e: &io::Error) -> DialError {
        let failure = match e.kind() {
            io::ErrorKind::ConnectionRefused | io::ErrorKind::NotFound => Failure::Refused,
            io::ErrorKind::TimedOut => Failure::Timeout,
            _ => Failure::Other,
        };
        DialError::new(url, describe(e), e.kind(), failure)
    }

    fn timeout(url: &Endpoint, what: &str, after: Duration) -> DialError {
        DialError::new(
            url,
            format!("{what}timed out after {after:?}"),
            io::ErrorKind::TimedOut,
            Failure::Timeout,
        )
    }

    fn settings(url: &Endpoint, why: impl std::fmt::Display) -> DialError {
        DialError::new(url, why, io::ErrorKind::InvalidInput, Failure::Other)
    }

    /// Which step failed.
    pub fn failure(&self) -> Failure {
        self.failure
    }

    /// Why, without the `cannot connect to URL:` in front.
    pub fn reason(&self) -> &str {
        &self.why
    }
}

impl From<DialError> for io::Error {
    fn from(e: DialError) -> io::Error {
        io::Error::new(e.kind, e.to_string())
    }
}

/// An I/O error in the words a user expects.
pub fn describe(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => {
            "connection refused (nothing is listening there)".into()
        }
        io::ErrorKind::NotFound => "no such socket file".into(),
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// Any byte stream a connection runs over.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// A stream whose transport is decided at run time.
pub type BoxStream = Box<dyn Stream>;

/// An open connection, whatever the transport.
pub enum Connection {
    /// `tcp://`, `unix://`, `tls://`: bytes both ways.
    Stream(BoxStream),
    /// `udp://`: a socket connected to the server (datagrams from anyone
    /// else are filtered out, and an ICMP refusal is an error on it).
    Datagram(UdpSocket),
    /// `ws://`, `wss://`: the handshake done, whole messages both ways.
    WebSocket(Box<Handshaken<BoxStream>>),
}

/// One server, resolved and ready to be connected to as often as needed.
#[derive(Clone)]
pub struct Target {
    url: Endpoint,
    addrs: Vec<SocketAddr>,
    /// `tls://` and `wss://`: the connector and the name to verify.
    tls: Option<(TlsConnector, rustls::pki_types::ServerName<'static>)>,
}

impl Target {
    pub fn url(&self) -> &Endpoint {
        &self.url
    }
}

/// Dials endpoints with one set of options. The TLS settings are built
/// (and `--insecure` said on stderr) once, when a first target needs them.
pub struct Dialer {
    options: DialOptions,
    tls: OnceLock<TlsConnector>,
}

impl Dialer {
    pub fn new(options: DialOptions) -> Dialer {
        Dialer {
            options,
            tls: OnceLock::new(),
        }
    }

    pub fn options(&self) -> &DialOptions {
        &self.options
    }

    /// The TLS connector, built on first use.
    fn tls_connector(&self, url: &Endpoint) -> Result<TlsConnector, DialError> {
        if let Some(c) = self.tls.get() {
            return Ok(c.clone());
        }
        let o = &self.options;
        let config = crate::tls::client_config(o.ca.as_deref(), o.insecure)
            .map_err(|e| DialError::settings(url, format!("{e:#}")))?;
        let connector = TlsConnector::from(config);
        if self.tls.set(connector.clone()).is_ok() && o.insecure {
            eprintln!("duplex: --insecure: the certificate of {url} is NOT verified");
        }
        Ok(connector)
    }

    /// Checks what can be checked of `url` before any connection: the TLS
    /// settings of a `tls://` or `wss://` URL are built (a bad `--ca` is an
    /// error now, and `--insecure` is said now, once). Resolving waits for
    /// [`Dialer::target`], so that a long-running caller (a bridge) follows
    /// DNS changes.
    pub fn prepare(&self, url: &Endpoint) -> Result<(), DialError> {
        if matches!(url, Endpoint::Tls(_) | Endpoint::Wss(_)) {
            self.tls_connector(url)?;
        }
        Ok(())
    }

    /// Resolves `url`'s host and prepares its TLS, or says why not.
    pub async fn target(&self, url: &Endpoint) -> Result<Target, DialError> {
        let (addrs, tls) = match url {
            Endpoint::Unix(_) => (Vec::new(), None),
            Endpoint::Tcp(hp) | Endpoint::Udp(hp) => (resolve(hp, url).await?, None),
            Endpoint::Ws(t) => (resolve(&t.addr, url).await?, None),
            Endpoint::Tls(hp) | Endpoint::Wss(WsTarget { addr: hp, .. }) => {
                let connector = self.tls_connector(url)?;
                let name = crate::tls::server_name(&hp.host_name())
                    .map_err(|e| DialError::settings(url, e))?;
                (resolve(hp, url).await?, Some((connector, name)))
            }
        };
        Ok(Target {
            url: url.clone(),
            addrs,
            tls,
        })
    }

    /// Resolves and connects to `url`, handshakes included.
    pub async fn dial(&self, url: &Endpoint) -> Result<Connection, DialError> {
        self.connect(&self.target(url).await?).await
    }

    /// Connects to a resolved target, handshakes included.
    pub async fn connect(&self, t: &Target) -> Result<Connection, DialError> {
        Ok(match &t.url {
            Endpoint::Tcp(_) => Connection::Stream(Box::new(self.tcp(t).await?)),
            Endpoint::Unix(path) => Connection::Stream(Box::new(self.unix(t, path).await?)),
            Endpoint::Tls(_) => Connection::Stream(Box::new(self.tls(t).await?)),
            Endpoint::Udp(_) => Connection::Datagram(self.udp(t).await?),
            Endpoint::Ws(w) => {
                let tcp: BoxStream = Box::new(self.tcp(t).await?);
                Connection::WebSocket(Box::new(self.websocket(t, w, tcp, None).await?))
            }
            Endpoint::Wss(w) => {
                let tls: BoxStream = Box::new(self.tls(t).await?);
                Connection::WebSocket(Box::new(self.websocket(t, w, tls, None).await?))
            }
        })
    }

    /// A TCP connection to the first of the target's addresses that
    /// answers, with `TCP_NODELAY` (every client here is latency-bound).
    pub async fn tcp(&self, t: &Target) -> Result<TcpStream, DialError> {
        let timeout = self.options.timeout;
        let attempt = async {
            let mut last = None;
            for addr in &t.addrs {
                match TcpStream::connect(addr).await {
                    Ok(s) => return Ok(s),
                    Err(e) => last = Some(e),
                }
            }
            Err(last.unwrap_or_else(|| io::Error::other("no address")))
        };
        let stream = tokio::time::timeout(timeout, attempt)
            .await
            .map_err(|_| DialError::timeout(&t.url, "", timeout))?
            .map_err(|e| DialError::io(&t.url, &e))?;
        let _ = stream.set_nodelay(true);
        Ok(stream)
    }

    /// A TCP connection with its TLS handshake done.
    pub async fn tls(&self, t: &Target) -> Result<TlsStream<TcpStream>, DialError> {
        let tcp = self.tcp(t).await?;
        self.tls_over(t, tcp).await
    }

    /// The TLS handshake over a stream connected already (a caller may
    /// write something first, such as a PROXY protocol header).
    pub async fn tls_over<S>(&self, t: &Target, stream: S) -> Result<TlsStream<S>, DialError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let Some((connector, name)) = &t.tls else {
            return Err(DialError::settings(
                &t.url,
                "TLS was not prepared for this target",
            ));
        };
        let timeout = self.options.timeout;
        tokio::time::timeout(timeout, connector.connect(name.clone(), stream))
            .await
            .map_err(|_| DialError::timeout(&t.url, "the TLS handshake ", timeout))?
            .map_err(|e| {
                DialError::new(
                    &t.url,
                    format!("TLS handshake failed: {e}"),
                    e.kind(),
                    Failure::Tls,
                )
            })
    }

    /// A Unix domain stream socket.
    pub async fn unix(&self, t: &Target, path: &Path) -> Result<UnixStream, DialError> {
        let timeout = self.options.timeout;
        tokio::time::timeout(timeout, UnixStream::connect(path))
            .await
            .map_err(|_| DialError::timeout(&t.url, "", timeout))?
            .map_err(|e| DialError::io(&t.url, &e))
    }

    /// A UDP socket connected to the target's first address.
    pub async fn udp(&self, t: &Target) -> Result<UdpSocket, DialError> {
        let fail = |e: io::Error| {
            let failure = match e.kind() {
                io::ErrorKind::ConnectionRefused => Failure::Refused,
                _ => Failure::Other,
            };
            DialError::new(&t.url, describe_udp(&e), e.kind(), failure)
        };
        let Some(&addr) = t.addrs.first() else {
            return Err(DialError::new(
                &t.url,
                "the host has no address",
                io::ErrorKind::NotFound,
                Failure::Dns,
            ));
        };
        let local: SocketAddr = if addr.is_ipv4() {
            (Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let socket = UdpSocket::bind(local).await.map_err(fail)?;
        socket.connect(addr).await.map_err(fail)?;
        Ok(socket)
    }

    /// The WebSocket handshake for `ws` over `stream` (connected, inside
    /// TLS for `wss://`), asking for `protocols` (a comma-separated list)
    /// rather than the options' subprotocol when given: a bridge offers
    /// its client's to a WebSocket TO.
    pub async fn websocket<S: Stream>(
        &self,
        t: &Target,
        ws: &WsTarget,
        stream: S,
        protocols: Option<HeaderValue>,
    ) -> Result<Handshaken<S>, DialError> {
        let mut options = Cow::Borrowed(&self.options.websocket);
        if protocols.is_some() {
            options.to_mut().protocol = protocols;
        }
        let timeout = self.options.timeout;
        let handshake = crate::websocket::handshake(stream, ws, &options);
        tokio::time::timeout(timeout, handshake)
            .await
            .map_err(|_| DialError::timeout(&t.url, "the WebSocket handshake ", timeout))?
            .map_err(|e| {
                let e = io::Error::from(e);
                DialError::new(&t.url, e.to_string(), e.kind(), Failure::WebSocket)
            })
    }
}

/// Resolves `hp`, or says why it cannot be resolved.
async fn resolve(hp: &HostPort, url: &Endpoint) -> Result<Vec<SocketAddr>, DialError> {
    hp.resolve().await.map_err(|e| {
        DialError::new(
            url,
            format!("cannot resolve host '{}': {e}", hp.host_name()),
            e.kind(),
            Failure::Dns,
        )
    })
}

/// A UDP error in the words a user expects: a refusal is an ICMP answer.
pub fn describe_udp(e: &io::Error) -> String {
    if e.kind() == io::ErrorKind::ConnectionRefused {
        "refused (ICMP port unreachable: nothing is listening there)".into()
    } else {
        describe(e)
    }
}
