//! TCP listeners: binding (dual-stack for an empty host) and accepting.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpListener, TcpStream};

use super::{Accept, Peer, bind_error};
use crate::endpoint::{Endpoint, Host, HostPort};

pub struct TcpAcceptor {
    listener: TcpListener,
}

impl TcpAcceptor {
    pub fn local_port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }
}

impl Accept for TcpAcceptor {
    type Stream = TcpStream;

    async fn accept(&self) -> io::Result<(TcpStream, Peer)> {
        let (stream, peer) = self.listener.accept().await?;
        // Replies are small and latency matters more than packet count.
        let _ = stream.set_nodelay(true);
        Ok((stream, Peer::Ip(peer)))
    }
}

/// The addresses to try for a listening host: `[::]` dual-stack first for an
/// empty host (falling back to `0.0.0.0` where IPv6 is unavailable).
pub(crate) async fn listen_addrs(
    hp: &HostPort,
    endpoint: &Endpoint,
) -> anyhow::Result<Vec<SocketAddr>> {
    Ok(match &hp.host {
        Host::Any => vec![
            SocketAddr::from((Ipv6Addr::UNSPECIFIED, hp.port)),
            SocketAddr::from((Ipv4Addr::UNSPECIFIED, hp.port)),
        ],
        _ => hp.resolve().await.map_err(|e| {
            anyhow::anyhow!("cannot listen on {endpoint}: cannot resolve the host: {e}")
        })?,
    })
}

/// Creates a socket for `addr`, dual-stack when it is the IPv6 wildcard.
pub(crate) fn socket_for(addr: &SocketAddr, ty: Type, proto: Protocol) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(*addr), ty, Some(proto))?;
    if addr.is_ipv6() && addr.ip().is_unspecified() {
        // Accept IPv4 too where the OS allows it; ignore where it does not.
        let _ = socket.set_only_v6(false);
    }
    socket.set_nonblocking(true)?;
    Ok(socket)
}

pub async fn bind(hp: &HostPort, endpoint: &Endpoint) -> anyhow::Result<TcpAcceptor> {
    let mut last = None;
    for addr in listen_addrs(hp, endpoint).await? {
        match bind_one(&addr) {
            Ok(listener) => return Ok(TcpAcceptor { listener }),
            Err(e) => last = Some(e),
        }
    }
    let e = last.unwrap_or_else(|| io::Error::other("no address to listen on"));
    Err(bind_error(endpoint, Some(hp.port), e))
}

fn bind_one(addr: &SocketAddr) -> io::Result<TcpListener> {
    let socket = socket_for(addr, Type::STREAM, Protocol::TCP)?;
    socket.set_reuse_address(true)?;
    socket.bind(&(*addr).into())?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}
