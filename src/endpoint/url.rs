//! [`Endpoint`]: every transport duplex speaks, in one type, and the URL
//! each is written back as. Display is the inverse of parsing
//! (`parse.rs`), so an endpoint printed in a log or an announcement can be
//! pasted back on a command line or into the configuration file.

use std::fmt;
use std::path::PathBuf;

use super::fd::FdRef;
use super::host::{Host, HostPort, WsTarget};

/// Every transport duplex speaks, in one type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Tcp(HostPort),
    Udp(HostPort),
    Tls(HostPort),
    Unix(PathBuf),
    Ws(WsTarget),
    Wss(WsTarget),
}

impl Endpoint {
    /// The URL scheme, e.g. `tcp`.
    pub fn scheme(&self) -> &'static str {
        match self {
            Endpoint::Tcp(_) => "tcp",
            Endpoint::Udp(_) => "udp",
            Endpoint::Tls(_) => "tls",
            Endpoint::Unix(_) => "unix",
            Endpoint::Ws(_) => "ws",
            Endpoint::Wss(_) => "wss",
        }
    }

    /// The host and port of a network endpoint (`None` for Unix sockets).
    pub fn host_port(&self) -> Option<&HostPort> {
        match self {
            Endpoint::Tcp(hp) | Endpoint::Udp(hp) | Endpoint::Tls(hp) => Some(hp),
            Endpoint::Ws(t) | Endpoint::Wss(t) => Some(&t.addr),
            Endpoint::Unix(_) => None,
        }
    }

    /// The inherited socket an `fd:` URL names (see the module docs).
    pub fn inherited(&self) -> Option<FdRef> {
        match self {
            Endpoint::Unix(p) => p.to_str()?.strip_prefix("fd:").and_then(FdRef::parse),
            _ => match &self.host_port()?.host {
                Host::Fd(r) => Some(r.clone()),
                _ => None,
            },
        }
    }

    /// The same endpoint with another port: used to report the real port
    /// after binding port 0.
    pub fn with_port(&self, port: u16) -> Endpoint {
        let mut e = self.clone();
        match &mut e {
            Endpoint::Tcp(hp) | Endpoint::Udp(hp) | Endpoint::Tls(hp) => hp.port = port,
            Endpoint::Ws(t) | Endpoint::Wss(t) => t.addr.port = port,
            Endpoint::Unix(_) => {}
        }
        e
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Tcp(hp) | Endpoint::Udp(hp) | Endpoint::Tls(hp) => {
                write!(f, "{}://{}", self.scheme(), hp)
            }
            Endpoint::Unix(p) => write!(f, "unix://{}", p.display()),
            Endpoint::Ws(t) | Endpoint::Wss(t) => {
                write!(f, "{}://{}{}", self.scheme(), t.addr, t.path)?;
                if let Some(q) = &t.query {
                    write!(f, "?{q}")?;
                }
                Ok(())
            }
        }
    }
}

/// The configuration file writes endpoints as URL strings.
impl<'de> serde::Deserialize<'de> for Endpoint {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for Endpoint {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
