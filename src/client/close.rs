//! How `duplex connect` words the end of a WebSocket session on stderr:
//! who closed, the code with its meaning, the reason when there is one,
//! and never a trailing space.

use super::session::ConnectError;
use crate::websocket::Close;

/// The server closed first (`None`: its close frame had no code). A clean
/// close is one line on stderr; any other is the error.
pub fn by_server(frame: Option<Close>) -> anyhow::Result<()> {
    match frame {
        None => eprintln!("duplex: closed by the server (no close code)"),
        Some(c) if c.clean() => eprintln!("duplex: closed by the server: {c}"),
        Some(c) => return Err(ConnectError(format!("closed by the server: {c}")).into()),
    }
    Ok(())
}

/// The client closed with `sent`; `answer` is the server's close frame, or
/// `None` when it did not answer in time.
pub fn by_client(sent: &Close, answer: Option<Option<Close>>) {
    match answer {
        Some(Some(a)) if a.code != sent.code => {
            eprintln!("duplex: closed: {sent}; the server answered {a}")
        }
        Some(_) => eprintln!("duplex: closed: {sent}"),
        None => eprintln!("duplex: closed: {sent}; the server did not answer"),
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
        assert!(by_server(Some(close(1000, ""))).is_ok());
        assert!(by_server(Some(close(1001, "bye"))).is_ok());
        assert!(by_server(None).is_ok());
        let e = by_server(Some(close(1008, "origin"))).expect_err("1008 fails");
        assert_eq!(e.to_string(), "closed by the server: 1008 origin");
    }
}
