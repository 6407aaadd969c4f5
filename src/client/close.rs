//! How `duplex connect` words the end of a WebSocket session on stderr:
//! who closed, the code with its meaning, the reason when there is one,
//! and never a trailing space.

use super::dial::ConnectError;

/// A close frame's content, whatever the WebSocket library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Close {
    pub code: u16,
    pub reason: String,
}

/// The name RFC 6455 (section 7.4) and the IANA registry give `code`.
fn code_name(code: u16) -> Option<&'static str> {
    Some(match code {
        1000 => "normal",
        1001 => "going away",
        1002 => "protocol error",
        1003 => "unsupported data",
        1005 => "no status",
        1006 => "abnormal closure",
        1007 => "invalid data",
        1008 => "policy violation",
        1009 => "message too big",
        1010 => "mandatory extension",
        1011 => "internal error",
        1012 => "service restart",
        1013 => "try again later",
        1014 => "bad gateway",
        1015 => "TLS handshake",
        _ => return None,
    })
}

impl std::fmt::Display for Close {
    /// `1000 STOP` when there is a reason (the server's own words),
    /// `1000 (normal)` when there is none.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let reason = self.reason.trim();
        match (reason, code_name(self.code)) {
            ("", Some(name)) => write!(f, "{} ({name})", self.code),
            ("", None) => write!(f, "{}", self.code),
            (r, _) => write!(f, "{} {r}", self.code),
        }
    }
}

impl Close {
    /// 1000 and 1001 end a session cleanly; any other code is a failure.
    fn clean(&self) -> bool {
        matches!(self.code, 1000 | 1001)
    }
}

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
        Close {
            code,
            reason: reason.into(),
        }
    }

    #[test]
    fn a_reason_is_shown_as_given_and_a_missing_one_by_the_code_name() {
        assert_eq!(close(1000, "STOP").to_string(), "1000 STOP");
        assert_eq!(close(1000, "").to_string(), "1000 (normal)");
        assert_eq!(close(1001, "").to_string(), "1001 (going away)");
        assert_eq!(close(1009, "").to_string(), "1009 (message too big)");
        assert_eq!(close(4321, "").to_string(), "4321");
        assert_eq!(close(1000, " ").to_string(), "1000 (normal)");
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
