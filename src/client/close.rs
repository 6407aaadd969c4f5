//! How `duplex connect` words the end of a WebSocket session on stderr:
//! who closed, the code with its meaning, the reason when there is one,
//! and never a trailing space. The far end is "the server", or "the
//! client" when duplex listens (`--listen`).

use super::session::ConnectError;
use crate::websocket::Close;

/// What the far end of a session is called on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// `connect URL`: duplex dialled a server.
    Server,
    /// `connect --listen URL`: a client dialled duplex.
    Client,
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Peer::Server => "the server",
            Peer::Client => "the client",
        })
    }
}

/// The peer closed first (`None`: its close frame had no code). A clean
/// close is one line on stderr; any other is the error.
pub fn by_peer(peer: Peer, frame: Option<Close>) -> anyhow::Result<()> {
    match frame {
        None => eprintln!("duplex: closed by {peer} (no close code)"),
        Some(c) if c.clean() => eprintln!("duplex: closed by {peer}: {c}"),
        Some(c) => return Err(ConnectError(format!("closed by {peer}: {c}")).into()),
    }
    Ok(())
}

/// duplex closed with `sent`; `answer` is the peer's close frame, or
/// `None` when it did not answer in time.
pub fn by_us(peer: Peer, sent: &Close, answer: Option<Option<Close>>) {
    match answer {
        Some(Some(a)) if a.code != sent.code => {
            eprintln!("duplex: closed: {sent}; {peer} answered {a}")
        }
        Some(_) => eprintln!("duplex: closed: {sent}"),
        None => eprintln!("duplex: closed: {sent}; {peer} did not answer"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(code: u16, reason: &str) -> Close {
        Close::new(code, reason)
    }

    #[test]
    fn only_normal_and_going_away_are_clean() {
        assert!(by_peer(Peer::Server, Some(close(1000, ""))).is_ok());
        assert!(by_peer(Peer::Server, Some(close(1001, "bye"))).is_ok());
        assert!(by_peer(Peer::Server, None).is_ok());
        let e = by_peer(Peer::Server, Some(close(1008, "origin"))).expect_err("1008 fails");
        assert_eq!(e.to_string(), "closed by the server: 1008 origin");
        let e = by_peer(Peer::Client, Some(close(1008, "origin"))).expect_err("1008 fails");
        assert_eq!(e.to_string(), "closed by the client: 1008 origin");
    }
}
