//! Reaching a bridge's TO for one session: connecting within
//! `--connect-timeout` (TLS handshake and PROXY header included), and, when
//! that fails, why, in words and as a kind for the metrics.
//!
//! The TLS client settings are built once per bridge (the system roots
//! plus `--ca`, or none with `--insecure`), not per session. A PROXY
//! header goes first on the connection, before any TLS, as HAProxy's
//! `send-proxy` does.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpStream, UdpSocket, UnixStream};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::ClientConfig;
use tokio_rustls::rustls::pki_types::ServerName;

use super::edge_metrics::UpstreamFailure;
use crate::client::dial::{describe, resolve};
use crate::endpoint::{Endpoint, HostPort};
use crate::relay::proxy::{self, Origin, SendProxy};
use crate::relay::{Side, udp};

/// Why an upstream could not be reached.
#[derive(Debug)]
pub struct DialError {
    pub kind: UpstreamFailure,
    pub message: String,
}

impl std::fmt::Display for DialError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

fn failed(kind: UpstreamFailure, message: impl Into<String>) -> DialError {
    DialError {
        kind,
        message: message.into(),
    }
}

/// An I/O error while connecting, with its kind.
fn io_failure(e: &std::io::Error) -> DialError {
    let kind = match e.kind() {
        std::io::ErrorKind::ConnectionRefused => UpstreamFailure::Refused,
        std::io::ErrorKind::TimedOut => UpstreamFailure::Timeout,
        _ => UpstreamFailure::Other,
    };
    failed(kind, describe(e))
}

/// A bridge's TO, ready to be dialled once per session.
pub struct Upstream {
    pub url: Endpoint,
    timeout: Duration,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    send_proxy: Option<SendProxy>,
}

impl Upstream {
    /// `tls`: the client settings for a `tls://` TO.
    pub fn new(
        url: Endpoint,
        timeout: Duration,
        tls: Option<Arc<ClientConfig>>,
        send_proxy: Option<SendProxy>,
    ) -> anyhow::Result<Upstream> {
        let tls = match (&url, tls) {
            (Endpoint::Tls(hp), Some(config)) => Some((
                TlsConnector::from(config),
                crate::tls::server_name(&hp.host_name())?,
            )),
            (Endpoint::Tls(_), None) => anyhow::bail!("{url}: no TLS client settings"),
            _ => None,
        };
        Ok(Upstream {
            url,
            timeout,
            tls,
            send_proxy,
        })
    }

    /// Connects for a client that came from `origin`.
    pub async fn dial(&self, origin: &Origin) -> Result<Side, DialError> {
        let timeout = self.timeout;
        tokio::time::timeout(timeout, self.connect(origin))
            .await
            .map_err(|_| {
                failed(
                    UpstreamFailure::Timeout,
                    format!("timed out after {timeout:?}"),
                )
            })?
    }

    async fn connect(&self, origin: &Origin) -> Result<Side, DialError> {
        match &self.url {
            Endpoint::Tcp(hp) => {
                let mut s = tcp(hp, &self.url).await?;
                self.send_header(&mut s, origin).await?;
                Ok(Side::Bytes(Box::new(s)))
            }
            Endpoint::Unix(path) => {
                let mut s = UnixStream::connect(path)
                    .await
                    .map_err(|e| io_failure(&e))?;
                self.send_header(&mut s, origin).await?;
                Ok(Side::Bytes(Box::new(s)))
            }
            Endpoint::Tls(hp) => {
                let mut s = tcp(hp, &self.url).await?;
                self.send_header(&mut s, origin).await?;
                let Some((connector, name)) = &self.tls else {
                    return Err(failed(UpstreamFailure::Other, "no TLS client settings"));
                };
                let tls = connector.connect(name.clone(), s).await.map_err(|e| {
                    failed(UpstreamFailure::Tls, format!("TLS handshake failed: {e}"))
                })?;
                Ok(Side::Bytes(Box::new(tls)))
            }
            Endpoint::Udp(hp) => {
                let socket = udp_socket(hp, &self.url).await?;
                Ok(Side::Messages(Box::new(udp::Dialled::new(socket))))
            }
            Endpoint::Ws(_) | Endpoint::Wss(_) => Err(failed(
                UpstreamFailure::Other,
                "WebSocket upstreams are not supported by bridges",
            )),
        }
    }

    /// Starts the stream with the PROXY header, when asked for one.
    async fn send_header<S: tokio::io::AsyncWrite + Unpin>(
        &self,
        stream: &mut S,
        origin: &Origin,
    ) -> Result<(), DialError> {
        let Some(version) = self.send_proxy else {
            return Ok(());
        };
        let header = proxy::header(version, origin)
            .map_err(|e| failed(UpstreamFailure::Other, format!("PROXY header: {e}")))?;
        stream.write_all(&header).await.map_err(|e| io_failure(&e))
    }
}

/// The addresses of `hp`, or a DNS failure.
async fn addresses(hp: &HostPort, url: &Endpoint) -> Result<Vec<SocketAddr>, DialError> {
    resolve(hp, url)
        .await
        .map_err(|e| failed(UpstreamFailure::Dns, format!("{e:#}")))
}

/// The first address of `hp` that accepts a TCP connection.
async fn tcp(hp: &HostPort, url: &Endpoint) -> Result<TcpStream, DialError> {
    let mut last = failed(UpstreamFailure::Other, "the host has no address");
    for addr in addresses(hp, url).await? {
        match TcpStream::connect(addr).await {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Err(e) => last = io_failure(&e),
        }
    }
    Err(last)
}

/// A UDP socket connected to the first address of `hp`: it hears from
/// that address only, and an ICMP "port unreachable" becomes an error.
async fn udp_socket(hp: &HostPort, url: &Endpoint) -> Result<UdpSocket, DialError> {
    let Some(&target) = addresses(hp, url).await?.first() else {
        return Err(failed(UpstreamFailure::Other, "the host has no address"));
    };
    let local: SocketAddr = if target.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(local).await.map_err(|e| io_failure(&e))?;
    socket.connect(target).await.map_err(|e| io_failure(&e))?;
    Ok(socket)
}
