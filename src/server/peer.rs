//! Who is on the other end of a connection, for logs.

/// The peer of an accepted connection.
///
/// Kept as the raw address (or credentials) and formatted only when a log
/// line is written: with logging at the default level, an accepted
/// connection costs no string formatting or allocation for its name.
#[derive(Debug, Clone, Copy)]
pub enum Peer {
    Ip(std::net::SocketAddr),
    /// A Unix socket peer, by the credentials the kernel reports.
    Unix {
        pid: Option<i32>,
        uid: u32,
    },
    Unknown,
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Peer::Ip(a) => a.fmt(f),
            Peer::Unix { pid, uid } => write!(f, "pid {} uid {uid}", pid.unwrap_or(0)),
            Peer::Unknown => f.write_str("unix peer"),
        }
    }
}
