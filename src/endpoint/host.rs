//! Where a network endpoint is: a host (any, an IP literal, a DNS name, or
//! an inherited socket) and a port, plus a WebSocket's request target.
//! Resolving lives here rather than in the dialler so that every client
//! (connect, bench, a bridge's upstream) turns a name into addresses, and
//! refuses to dial an inherited socket, the same way.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use super::fd::FdRef;

/// The host part of a network endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// Empty host: listen on every interface (dual-stack where possible).
    /// As a connect target it means the local machine.
    Any,
    /// An IPv4 or IPv6 literal.
    Ip(IpAddr),
    /// A DNS name, resolved when it is used.
    Name(String),
    /// `fd:3` or `fd:NAME`: a listening socket inherited from the service
    /// manager (the port is meaningless and written as 0).
    Fd(FdRef),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Any => Ok(()),
            Host::Ip(IpAddr::V4(ip)) => write!(f, "{ip}"),
            Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
            Host::Name(name) => f.write_str(name),
            Host::Fd(r) => r.fmt(f),
        }
    }
}

/// A host and a port, as in `127.0.0.1:7000`, `[::1]:7000` or `:7000`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostPort {
    pub host: Host,
    pub port: u16,
}

impl HostPort {
    /// The socket addresses this names. DNS names are resolved (which may
    /// block briefly, so this is async); an empty host gives the loopback
    /// address when connecting.
    pub async fn resolve(&self) -> std::io::Result<Vec<SocketAddr>> {
        match &self.host {
            Host::Any => Ok(vec![SocketAddr::from(([127, 0, 0, 1], self.port))]),
            Host::Ip(ip) => Ok(vec![SocketAddr::new(*ip, self.port)]),
            Host::Fd(r) => Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "{r} names a socket passed to `duplex serve` by the service manager; it has no address to dial"
                ),
            )),
            Host::Name(name) => {
                let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), self.port))
                    .await?
                    .collect();
                if addrs.is_empty() {
                    Err(std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        format!("{name} has no address"),
                    ))
                } else {
                    Ok(addrs)
                }
            }
        }
    }

    /// The name to present for TLS (SNI) and the HTTP `Host` header.
    pub fn host_name(&self) -> String {
        match &self.host {
            Host::Any => "localhost".to_string(),
            Host::Ip(ip) => ip.to_string(),
            Host::Name(n) => n.clone(),
            Host::Fd(r) => r.to_string(),
        }
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            // `fd:3` already has its colon; an inherited socket has no port.
            Host::Fd(r) => r.fmt(f),
            host => write!(f, "{host}:{}", self.port),
        }
    }
}

/// A WebSocket endpoint: host, port and the request target (path plus an
/// optional query string).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WsTarget {
    pub addr: HostPort,
    /// Path, always starting with `/`, without the query.
    pub path: String,
    /// Query string without the `?`, if any.
    pub query: Option<String>,
}

impl WsTarget {
    /// The HTTP request target: path and query.
    pub fn request_target(&self) -> String {
        match &self.query {
            Some(q) => format!("{}?{}", self.path, q),
            None => self.path.clone(),
        }
    }
}
