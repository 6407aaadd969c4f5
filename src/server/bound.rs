//! One listening socket bound the way `serve` binds (dual-stack for an
//! empty host, a stale Unix socket file replaced and the file removed at
//! the end, the same error messages), for a caller that accepts by itself:
//! `duplex connect --listen`.

use tokio::net::UdpSocket;

pub use super::accept::Accept;
pub use super::peer::Peer;
use super::{tcp, udp, unix};
use crate::endpoint::Endpoint;

/// A bound socket.
pub enum Bound {
    /// For `tcp://` and `tls://`.
    Tcp(tcp::TcpAcceptor),
    Unix(unix::UnixAcceptor),
    Udp(UdpSocket),
}

/// Binds `url`; returns the socket and the URL with its real port.
pub async fn bind(url: &Endpoint) -> anyhow::Result<(Bound, Endpoint)> {
    Ok(match url {
        Endpoint::Tcp(hp) | Endpoint::Tls(hp) => {
            let a = tcp::bind(hp, url).await?;
            let real = url.with_port(a.local_port());
            (Bound::Tcp(a), real)
        }
        Endpoint::Udp(hp) => {
            let socket = udp::bind(hp, url).await?;
            let real = url.with_port(socket.local_port());
            (Bound::Udp(socket.into_socket()), real)
        }
        Endpoint::Unix(path) => (Bound::Unix(unix::bind(path, url)?), url.clone()),
        Endpoint::Ws(_) | Endpoint::Wss(_) => {
            anyhow::bail!("cannot listen on {url}: --listen takes tcp, unix, tls or udp URLs")
        }
    })
}
