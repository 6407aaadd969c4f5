//! WebSocket client: each stdin line one message (without its line break),
//! each message one stdout line.
//!
//! At stdin EOF (or `--quit-after` later) and at Ctrl-C the client starts the
//! close handshake with code 1000 and keeps printing what arrives until the
//! server answers, for at most one second. Who closed, with the code and
//! reason, goes to stderr (see `super::close`).

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};

use super::close;
use super::session::{Clock, ConnectError, Ending, Expiry, Interrupt};
use super::stdio::{Line, Lines, stdin_error, stdout_error, stdout_gone, write_record};
use crate::cli::ConnectArgs;
use crate::endpoint::Endpoint;
use crate::websocket::{Close, Handshaken, Incoming, Message, WebSocket};

/// How long the close handshake may take before the client gives up.
const CLOSE_WAIT: Duration = Duration::from_secs(1);
/// Largest message the client sends or accepts by default, defined with
/// the flag it is the default of.
pub use crate::cli::MAX_MESSAGE;

/// `duplex connect ws://` and `wss://` once the handshake is done: `-z` or
/// the stdin/stdout session. `lines` is stdin ([`stdin_lines`]), lent by
/// the caller so that it outlives a session: with `--listen -k` a line
/// read ahead while one client leaves goes to the next.
pub(crate) async fn run<S>(
    handshaken: Handshaken<S>,
    lines: &mut Lines,
    args: &ConnectArgs,
    clock: &Clock,
    interrupt: &mut Interrupt,
) -> anyhow::Result<Ending>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    if let Some(c) = &handshaken.compression {
        tracing::debug!(extension = %c, "compression agreed");
    }
    let mut session = Session {
        ws: handshaken.ws,
        url: &args.url,
        args,
        clock,
    };
    if args.zero_io {
        let _ = session.close(normal(""), false).await;
        return Ok(Ending::Done);
    }
    session.pump(lines, interrupt).await
}

/// Stdin as the lines a WebSocket session sends.
pub fn stdin_lines(args: &ConnectArgs) -> Lines {
    Lines::new(args.max_message)
}

/// One WebSocket session of `duplex connect`.
struct Session<'a, S> {
    ws: WebSocket<S>,
    url: &'a Endpoint,
    args: &'a ConnectArgs,
    clock: &'a Clock,
}

impl<S> Session<'_, S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    /// Pumps stdin and the WebSocket until either side ends.
    async fn pump(
        &mut self,
        lines: &mut Lines,
        interrupt: &mut Interrupt,
    ) -> anyhow::Result<Ending> {
        let max = self.args.max_message;
        let mut stdin_open = true;
        self.clock.touch();
        loop {
            tokio::select! {
                m = self.ws.recv() => match m {
                    Ok(Incoming::Message(m)) => {
                        self.clock.touch();
                        if let Err(e) = write_record(&m.payload) {
                            if !stdout_gone(&e) {
                                return Err(stdout_error(e));
                            }
                            // Nobody reads any more: end quietly.
                            let _ = self.close(normal(""), false).await;
                            return Ok(Ending::Done);
                        }
                    }
                    // Pongs are not data.
                    Ok(Incoming::Pong) => {}
                    Ok(Incoming::Close(frame)) => {
                        self.ws.finish(CLOSE_WAIT).await;
                        close::by_peer(self.peer(), frame)?;
                        return Ok(Ending::Done);
                    }
                    Err(crate::websocket::Error::Closed) => return Ok(Ending::Done),
                    Err(e) => {
                        self.ws.fail(&e, CLOSE_WAIT).await;
                        return Err(ConnectError(format!("WebSocket error: {e}")).into());
                    }
                },
                r = lines.next(), if stdin_open => match r.map_err(stdin_error)? {
                    Line::Eof if self.clock.lingers() => {
                        stdin_open = false;
                        self.clock.stdin_ended();
                    }
                    Line::Eof => return self.close_and_say(Ending::Done).await,
                    Line::TooLong(n) => eprintln!(
                        "duplex: a line of {n} bytes is over the largest message ({max} bytes, --max-message); not sent"
                    ),
                    Line::Complete => {
                        let msg = message(lines.bare(), self.args.binary);
                        self.ws.send(msg).await.map_err(|e| ConnectError(format!("cannot send: {e}")))?;
                        self.clock.touch();
                    }
                },
                why = self.clock.expired() => return match why {
                    Expiry::Quit => self.close_and_say(Ending::Done).await,
                    Expiry::Idle => {
                        let _ = self.close(normal("idle timeout"), true).await;
                        Err(self.clock.idle_error(self.url))
                    }
                },
                _ = interrupt.recv() => return self.close_and_say(Ending::Interrupted).await,
            }
        }
    }

    /// What stderr calls the far end.
    fn peer(&self) -> close::Peer {
        if self.args.listen {
            close::Peer::Client
        } else {
            close::Peer::Server
        }
    }

    /// duplex ends the session: close 1000, and one line saying so.
    async fn close_and_say(&mut self, ending: Ending) -> anyhow::Result<Ending> {
        let sent = normal("");
        let answer = self.close(sent.clone(), true).await;
        close::by_us(self.peer(), &sent, answer);
        Ok(ending)
    }

    /// Starts the close handshake with `frame` and waits for the server's
    /// answer for at most [`CLOSE_WAIT`], printing what still arrives when
    /// `show`. `None` when the server did not answer in time.
    async fn close(&mut self, frame: Close, show: bool) -> Option<Option<Close>> {
        // A reader gone now changes nothing: the close goes on.
        let print = |m: Message| {
            if show {
                let _ = write_record(&m.payload);
            }
        };
        self.ws.close(&frame, CLOSE_WAIT, print).await
    }
}

/// A close with code 1000.
fn normal(reason: &str) -> Close {
    Close::new(1000, reason)
}

/// One stdin line as a message: text unless `--binary` (or not UTF-8).
fn message(line: &[u8], binary: bool) -> Message {
    let payload = bytes::Bytes::copy_from_slice(line);
    if binary {
        return Message::binary(payload);
    }
    match std::str::from_utf8(line) {
        Ok(_) => Message::text(payload),
        Err(_) => {
            eprintln!(
                "duplex: a line is not valid UTF-8; sent as a binary message (use --binary for all)"
            );
            Message::binary(payload)
        }
    }
}
