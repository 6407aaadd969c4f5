//! A close frame's code and reason, written the way people read them: the
//! reason when there is one, else the code's name, never a trailing space.

/// The content of a close frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Close {
    pub code: u16,
    pub reason: String,
}

impl Close {
    pub fn new(code: u16, reason: &str) -> Close {
        Close {
            code,
            reason: reason.into(),
        }
    }

    /// 1000 and 1001 end a session cleanly; any other code is a failure.
    pub fn clean(&self) -> bool {
        matches!(self.code, 1000 | 1001)
    }
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
    /// `1000 STOP` when there is a reason (the peer's own words),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_is_shown_as_given_and_a_missing_one_by_the_code_name() {
        assert_eq!(Close::new(1000, "STOP").to_string(), "1000 STOP");
        assert_eq!(Close::new(1000, "").to_string(), "1000 (normal)");
        assert_eq!(Close::new(1001, "").to_string(), "1001 (going away)");
        assert_eq!(Close::new(1009, "").to_string(), "1009 (message too big)");
        assert_eq!(Close::new(4321, "").to_string(), "4321");
        assert_eq!(Close::new(1000, " ").to_string(), "1000 (normal)");
    }

    #[test]
    fn only_normal_and_going_away_are_clean() {
        assert!(Close::new(1000, "").clean());
        assert!(Close::new(1001, "bye").clean());
        assert!(!Close::new(1008, "origin").clean());
    }
}
