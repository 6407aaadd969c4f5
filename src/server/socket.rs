//! Making listening sockets: which addresses to try for a host, dual-stack
//! for the empty host, and an error that says why binding failed.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use socket2::{Domain, Protocol, Socket, Type};

use crate::endpoint::{Endpoint, Host, HostPort};

/// The addresses to try for a listening host: `[::]` dual-stack first for an
/// empty host (falling back to `0.0.0.0` where IPv6 is unavailable).
pub async fn listen_addrs(hp: &HostPort, endpoint: &Endpoint) -> anyhow::Result<Vec<SocketAddr>> {
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
pub fn socket_for(addr: &SocketAddr, ty: Type, proto: Protocol) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(*addr), ty, Some(proto))?;
    if addr.is_ipv6() && addr.ip().is_unspecified() {
        // Accept IPv4 too where the OS allows it; ignore where it does not.
        let _ = socket.set_only_v6(false);
    }
    socket.set_nonblocking(true)?;
    Ok(socket)
}

/// Human-readable reason for a failure to bind, with the fix when there is one.
pub fn bind_error(endpoint: &Endpoint, port: Option<u16>, e: io::Error) -> anyhow::Error {
    let why = match e.kind() {
        io::ErrorKind::AddrInUse => {
            "address already in use (another program is listening there)".to_string()
        }
        io::ErrorKind::PermissionDenied if port.is_some_and(|p| p != 0 && p < 1024) => format!(
            "permission denied: ports below 1024 need root or the CAP_NET_BIND_SERVICE capability (try a port such as {})",
            7000 + port.unwrap_or(0)
        ),
        io::ErrorKind::AddrNotAvailable => {
            "that address does not belong to this machine".to_string()
        }
        _ => e.to_string(),
    };
    anyhow::anyhow!("cannot listen on {endpoint}: {why}")
}
