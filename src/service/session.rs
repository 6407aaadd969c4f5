//! How a line service talks with one client: a [`Session`] takes requests
//! and queues replies that the transport pulls one at a time.

/// What the transport should do after handing a request to a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Send the queued replies and keep reading requests.
    Continue,
    /// Send the queued replies, then end the session (`STOP`, `--once`).
    Close,
}

/// One client's conversation with a line service.
pub trait Session: Send {
    /// Called once when the session opens (stream and WebSocket transports);
    /// may queue a greeting.
    fn open(&mut self) -> Flow {
        Flow::Continue
    }

    /// Handles one request, already trimmed of surrounding whitespace and
    /// known not to be `STOP`. Queues zero or more replies.
    fn request(&mut self, request: &[u8]);

    /// Writes the next queued reply into `out` (which is empty), without a
    /// line terminator. Returns `false` when nothing is queued.
    fn next_reply(&mut self, out: &mut Vec<u8>) -> bool;
}

/// A line service: a factory of sessions.
pub trait LineService: Send + Sync {
    /// The service's name, as used on the command line.
    fn name(&self) -> &'static str;
    /// A new session. `ordinal` numbers this service's sessions from 0 in the
    /// order they were opened (it seeds reproducible random numbers).
    fn session(&self, ordinal: u64) -> Box<dyn Session>;
    /// A new session for a client the server could not count (a
    /// `--counter-store` did not answer when it was admitted). Only
    /// `counter` answers such a client differently.
    fn uncounted_session(&self, ordinal: u64) -> Box<dyn Session> {
        self.session(ordinal)
    }
}

/// Feeds one raw request (a line without its terminator, a datagram or a
/// message) to a session: trims it, recognises `STOP`, and returns what the
/// transport should do next.
///
/// This is the single place where the request rules of docs/behaviour.md
/// ("Requests and replies") live, so every transport treats requests
/// identically.
pub fn handle_request(session: &mut dyn Session, raw: &[u8], allow_stop: bool) -> Flow {
    let request = raw.trim_ascii();
    if allow_stop && request == b"STOP" {
        return Flow::Close;
    }
    session.request(request);
    Flow::Continue
}

/// At most one pending reply, rendered when it is pulled (so the time or
/// the count is fresh): enough for daytime and counter, which answer each
/// request with exactly one line.
#[derive(Debug, Default)]
pub(crate) struct OneReply(bool);

impl OneReply {
    pub(crate) fn queue(&mut self) {
        self.0 = true;
    }

    /// Pulls the pending reply, rendering it with `render`.
    pub(crate) fn pull(&mut self, out: &mut Vec<u8>, render: impl FnOnce(&mut Vec<u8>)) -> bool {
        let pending = std::mem::take(&mut self.0);
        if pending {
            render(out);
        }
        pending
    }
}

#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// Runs one request and collects every reply as a string.
    pub fn ask(session: &mut dyn Session, request: &str) -> Vec<String> {
        handle_request(session, request.as_bytes(), true);
        drain(session)
    }

    pub fn drain(session: &mut dyn Session) -> Vec<String> {
        let mut replies = Vec::new();
        let mut buf = Vec::new();
        while session.next_reply(&mut buf) {
            replies.push(String::from_utf8_lossy(&buf).into_owned());
            buf.clear();
        }
        replies
    }
}
