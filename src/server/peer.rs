//! Who is on the other end of a connection, for logs.

use std::net::SocketAddr;

/// The peer of an accepted connection.
///
/// Kept as the raw address (or credentials) and formatted only when a log
/// line is written: with logging at the default level, an accepted
/// connection costs no string formatting or allocation for its name.
#[derive(Debug, Clone, Copy)]
pub enum Peer {
    Ip(SocketAddr),
    /// A Unix socket peer, by the credentials the kernel reports.
    Unix {
        pid: Option<i32>,
        uid: u32,
    },
    Unknown,
    /// A client relayed by a load balancer, as its PROXY protocol header
    /// names it: this address is the client's everywhere (logs, metrics,
    /// limits); `proxy` is who connected, for a log field of its own.
    Proxied {
        client: SocketAddr,
        proxy: Hop,
    },
}

/// The load balancer that connected on behalf of a [`Peer::Proxied`]
/// client.
#[derive(Debug, Clone, Copy)]
pub enum Hop {
    Ip(SocketAddr),
    Unix { pid: Option<i32>, uid: u32 },
    Unknown,
}

impl Peer {
    /// This connection as the one relaying `client`, whom its PROXY
    /// protocol header names.
    pub fn relaying(self, client: SocketAddr) -> Peer {
        let proxy = match self {
            Peer::Ip(a) | Peer::Proxied { client: a, .. } => Hop::Ip(a),
            Peer::Unix { pid, uid } => Hop::Unix { pid, uid },
            Peer::Unknown => Hop::Unknown,
        };
        Peer::Proxied { client, proxy }
    }

    /// The load balancer in between, if any (for a log field of its own).
    pub fn proxy(&self) -> Option<Hop> {
        match self {
            Peer::Proxied { proxy, .. } => Some(*proxy),
            _ => None,
        }
    }
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Peer::Ip(a) | Peer::Proxied { client: a, .. } => a.fmt(f),
            Peer::Unix { pid, uid } => unix(f, *pid, *uid),
            Peer::Unknown => f.write_str("unix peer"),
        }
    }
}

impl std::fmt::Display for Hop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Hop::Ip(a) => a.fmt(f),
            Hop::Unix { pid, uid } => unix(f, *pid, *uid),
            Hop::Unknown => f.write_str("unix peer"),
        }
    }
}

fn unix(f: &mut std::fmt::Formatter<'_>, pid: Option<i32>, uid: u32) -> std::fmt::Result {
    write!(f, "pid {} uid {uid}", pid.unwrap_or(0))
}
