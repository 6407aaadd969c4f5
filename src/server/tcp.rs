//! TCP listeners: binding (dual-stack for an empty host) and accepting.

use std::io;
use std::net::SocketAddr;
use std::task::{Context, Poll};

use socket2::{Protocol, Type};
use tokio::net::{TcpListener, TcpStream};

use super::accept::Accept;
use super::peer::Peer;
use super::reuse_port;
use super::socket::{bind_error, listen_addrs, socket_for};
use crate::endpoint::{Endpoint, HostPort};

pub struct TcpAcceptor {
    listener: TcpListener,
}

impl TcpAcceptor {
    pub fn local_port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// Serves a listening socket bound elsewhere.
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpAcceptor> {
        listener.set_nonblocking(true)?;
        Ok(TcpAcceptor {
            listener: TcpListener::from_std(listener)?,
        })
    }
}

impl Accept for TcpAcceptor {
    type Stream = TcpStream;

    async fn accept(&self) -> io::Result<(TcpStream, Peer)> {
        let (stream, peer) = self.listener.accept().await?;
        Ok(accepted(stream, peer))
    }

    fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, Peer)>> {
        self.listener
            .poll_accept(cx)
            .map_ok(|(stream, peer)| accepted(stream, peer))
    }
}

fn accepted(stream: TcpStream, peer: SocketAddr) -> (TcpStream, Peer) {
    // Replies are small and latency matters more than packet count.
    let _ = stream.set_nodelay(true);
    (stream, Peer::Ip(peer))
}

/// Binds `hp` (with `SO_REUSEPORT` when `reuse_port`: see `reuse_port.rs`).
pub async fn bind(
    hp: &HostPort,
    endpoint: &Endpoint,
    reuse_port: bool,
) -> anyhow::Result<TcpAcceptor> {
    let mut last = None;
    for addr in listen_addrs(hp, endpoint).await? {
        match bind_one(&addr, reuse_port) {
            Ok(listener) => return Ok(TcpAcceptor { listener }),
            Err(e) => last = Some(e),
        }
    }
    let e = last.unwrap_or_else(|| io::Error::other("no address to listen on"));
    Err(bind_error(endpoint, Some(hp.port), e))
}

fn bind_one(addr: &SocketAddr, reuse_port: bool) -> io::Result<TcpListener> {
    let socket = socket_for(addr, Type::STREAM, Protocol::TCP)?;
    socket.set_reuse_address(true)?;
    if reuse_port {
        reuse_port::set(&socket)?;
    }
    socket.bind(&(*addr).into())?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}
