//! One listening socket bound the way `serve` binds (dual-stack for an
//! empty host, a stale Unix socket file replaced and the file removed at
//! the end, the same error messages), for a caller that accepts by itself:
//! `duplex connect --listen`; and a WebSocket client's opening handshake
//! answered on an accepted connection as `serve` answers it.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use hyper::StatusCode;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::UdpSocket;

pub use super::accept::Accept;
use super::handshake::{Upgrade, accept};
use super::limits::Limits;
pub use super::peer::Peer;
use super::response::text;
use super::shared::Shared;
use super::upgraded::ServerIo;
use super::{tcp, udp, unix};
use crate::endpoint::Endpoint;
use crate::service::Stats;
use crate::websocket::{Policy, deflate};

/// A bound socket.
pub enum Bound {
    /// For `tcp://`, `tls://`, `ws://` and `wss://`.
    Tcp(tcp::TcpAcceptor),
    Unix(unix::UnixAcceptor),
    Udp(UdpSocket),
}

/// Binds `url`; returns the socket and the URL with its real port.
pub async fn bind(url: &Endpoint) -> anyhow::Result<(Bound, Endpoint)> {
    Ok(match url {
        Endpoint::Tcp(hp)
        | Endpoint::Tls(hp)
        | Endpoint::Ws(crate::endpoint::WsTarget { addr: hp, .. })
        | Endpoint::Wss(crate::endpoint::WsTarget { addr: hp, .. }) => {
            let a = tcp::bind(hp, url, false).await?;
            let real = url.with_port(a.local_port());
            (Bound::Tcp(a), real)
        }
        Endpoint::Udp(hp) => {
            let socket = udp::bind(hp, url, false).await?;
            let real = url.with_port(socket.local_port());
            (Bound::Udp(socket.into_socket()), real)
        }
        Endpoint::Unix(path) => (Bound::Unix(unix::bind(path, url)?), url.clone()),
    })
}

/// What answering WebSocket handshakes needs: `serve`'s defaults (origin
/// policy, permessage-deflate agreed when offered).
pub struct Handshakes {
    shared: Arc<Shared>,
}

impl Handshakes {
    /// Handshakes for messages up to `max_message` bytes.
    pub fn new(max_message: usize) -> anyhow::Result<Handshakes> {
        let limits = Limits {
            max_message,
            ..Limits::default()
        };
        let shared = Shared::new(limits, Some(Policy::default()), Stats::new(), None)?;
        Ok(Handshakes { shared })
    }

    /// Answers the opening handshake of the client on `stream` for `path`
    /// (any path, for `/`), as `serve` would: the upgraded connection and
    /// the compression agreed, or why there is none (a refused request
    /// has had its answer: 404, 403, 400…).
    pub async fn accept<S>(
        &self,
        stream: S,
        peer: Peer,
        path: &str,
    ) -> anyhow::Result<(ServerIo, Option<deflate::Params>)>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let upgrade: Arc<Mutex<Option<Upgrade>>> = Arc::default();
        let (shared, slot, path) = (self.shared.clone(), upgrade.clone(), path.to_string());
        let service = hyper::service::service_fn(move |mut req| {
            let response = if path != "/" && req.uri().path() != path {
                text(
                    StatusCode::NOT_FOUND,
                    format!("nothing at {}\n", req.uri().path()),
                )
            } else {
                match accept(&mut req, &shared, &peer) {
                    Ok(a) => {
                        if let Ok(mut s) = slot.lock() {
                            *s = Some(a.upgrade);
                        }
                        a.response
                    }
                    Err(refused) => *refused,
                }
            };
            async move { Ok::<_, Infallible>(response) }
        });
        let conn = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(stream), service)
            .with_upgrades();
        if let Err(e) = conn.await {
            anyhow::bail!("{peer}: not a WebSocket handshake: {e}");
        }
        let taken = upgrade.lock().ok().and_then(|mut s| s.take());
        let Some(upgrade) = taken else {
            anyhow::bail!("{peer}: no WebSocket handshake (the request was answered and refused)");
        };
        match upgrade.connection().await {
            Some(c) => Ok(c),
            None => anyhow::bail!("{peer}: the client went away during the handshake"),
        }
    }
}
