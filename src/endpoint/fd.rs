//! `fd:N` and `fd:NAME`: the listening sockets a service manager passes to
//! `duplex serve` (systemd socket activation), named where a URL has its
//! host (or, for `unix://`, its path). Kept apart from ordinary hosts
//! because such a socket has no address: it can be served, never dialled.

use std::fmt;

/// Which inherited socket an `fd:` URL names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FdRef {
    /// The file descriptor number (`LISTEN_FDS` start at 3).
    Number(u32),
    /// The name `LISTEN_FDNAMES` gives it: every socket of that name.
    Name(String),
}

impl FdRef {
    /// Parses what follows `fd:`: a number, or a name as systemd's
    /// `FileDescriptorName=` allows it, restricted to what a URL carries
    /// plainly (letters, digits, `.`, `_`, `-`; at most 255).
    pub fn parse(s: &str) -> Option<FdRef> {
        if let Ok(n) = s.parse::<u32>() {
            return Some(FdRef::Number(n));
        }
        let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        (!s.is_empty() && s.len() <= 255 && s.chars().all(plain))
            .then(|| FdRef::Name(s.to_string()))
    }
}

impl fmt::Display for FdRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FdRef::Number(n) => write!(f, "fd:{n}"),
            FdRef::Name(name) => write!(f, "fd:{name}"),
        }
    }
}

/// Why `fd:NAME` was refused, for every scheme alike.
pub(super) fn fd_name_error(name: &str) -> String {
    format!(
        "'fd:{name}' names no inherited socket: write fd:N (a file descriptor from 3) or fd:NAME (letters, digits, '.', '_', '-')"
    )
}
