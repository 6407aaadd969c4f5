//! WebSocket client: each stdin line one message (without its line break),
//! each message one stdout line.
//!
//! At stdin EOF (or `--quit-after` later) and at Ctrl-C the client starts the
//! close handshake with code 1000 and keeps printing what arrives until the
//! server answers, for at most one second. Who closed, with the code and
//! reason, goes to stderr (see `super::close`).
//!
//! Everything specific to the WebSocket library is in this file.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::close::{self, Close};
use super::dial::{ConnectError, connect_tcp, connect_tls, fail};
use super::session::{Clock, Ending, Expiry, Interrupt};
use super::stdio::{Line, Lines, stdin_error, stdout_error, stdout_gone, write_record};
use crate::cli::ConnectArgs;
use crate::endpoint::{Endpoint, WsTarget};

/// How long the close handshake may take before the client gives up.
const CLOSE_WAIT: Duration = Duration::from_secs(1);
/// Largest message the client accepts.
const MAX_MESSAGE: usize = 64 << 20;

/// Options of a WebSocket handshake.
#[derive(Debug, Clone, Default)]
pub struct Handshake {
    /// Extra request headers, as `Name: value`.
    pub headers: Vec<String>,
    /// Subprotocol to ask for.
    pub protocol: Option<String>,
}

/// Connects and completes the WebSocket handshake over TCP.
///
/// This is the library's client entry point; `duplex connect` and the
/// Autobahn client example use it (`duplex bench` has a client of its own
/// on tokio-websockets and shares only [`request_uri`]).
pub async fn connect(
    url: &Endpoint,
    target: &WsTarget,
    handshake: &Handshake,
    timeout: Duration,
) -> anyhow::Result<WebSocketStream<tokio::net::TcpStream>> {
    let tcp = connect_tcp(&target.addr, url, timeout).await?;
    handshake_over(tcp, url, target, handshake, timeout).await
}

/// The URI of the upgrade request: scheme, host (`localhost` for an empty
/// host), port, path and query.
pub fn request_uri(url: &Endpoint, target: &WsTarget) -> String {
    let scheme = if matches!(url, Endpoint::Wss(_)) {
        "wss"
    } else {
        "ws"
    };
    if matches!(target.addr.host, crate::endpoint::Host::Any) {
        format!(
            "{scheme}://localhost:{}{}",
            target.addr.port,
            target.request_target()
        )
    } else {
        format!("{scheme}://{}{}", target.addr, target.request_target())
    }
}

/// Performs the WebSocket handshake over an already connected stream.
pub async fn handshake_over<S>(
    stream: S,
    url: &Endpoint,
    target: &WsTarget,
    handshake: &Handshake,
    timeout: Duration,
) -> anyhow::Result<WebSocketStream<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let uri = request_uri(url, target);
    let mut request = uri
        .as_str()
        .into_client_request()
        .map_err(|e| fail(url, e))?;
    for h in &handshake.headers {
        let Some((name, value)) = h.split_once(':') else {
            return Err(ConnectError(format!("header '{h}' is not 'Name: value'")).into());
        };
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| ConnectError(format!("'{}' is not a valid header name", name.trim())))?;
        let value = HeaderValue::from_str(value.trim())
            .map_err(|_| ConnectError(format!("the value of header '{name}' is not valid")))?;
        request.headers_mut().append(name, value);
    }
    if let Some(p) = &handshake.protocol {
        let value = HeaderValue::from_str(p)
            .map_err(|_| ConnectError(format!("'{p}' is not a valid subprotocol")))?;
        request
            .headers_mut()
            .insert("sec-websocket-protocol", value);
    }
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE));
    let handshake = tokio_tungstenite::client_async_with_config(request, stream, Some(config));
    let (ws, _response) = tokio::time::timeout(timeout, handshake)
        .await
        .map_err(|_| {
            fail(
                url,
                format!("the WebSocket handshake timed out after {timeout:?}"),
            )
        })?
        .map_err(|e| match e {
            WsError::Http(resp) => {
                let status = resp.status();
                let body = resp
                    .body()
                    .as_deref()
                    .map(|b| String::from_utf8_lossy(b).trim().to_string())
                    .filter(|b| !b.is_empty())
                    .map(|b| format!(": {b}"))
                    .unwrap_or_default();
                fail(
                    url,
                    format!("the server refused the WebSocket handshake with HTTP {status}{body}"),
                )
            }
            other => fail(url, format!("WebSocket handshake failed: {other}")),
        })?;
    Ok(ws)
}

/// `duplex connect ws://` and `wss://`: connects, then `-z` or the
/// stdin/stdout session.
pub(crate) async fn run(
    url: &Endpoint,
    target: &WsTarget,
    args: &ConnectArgs,
    clock: &Clock,
    interrupt: &mut Interrupt,
) -> anyhow::Result<Ending> {
    let handshake = Handshake {
        headers: args.headers.clone(),
        protocol: args.protocol.clone(),
    };
    let timeout = args.connect_timeout();
    if let Endpoint::Wss(_) = url {
        let (ca, insecure) = (args.ca.as_deref(), args.insecure);
        let connected = async {
            let tls = connect_tls(&target.addr, url, timeout, ca, insecure).await?;
            handshake_over(tls, url, target, &handshake, timeout).await
        };
        let Some(ws) = interrupt.or(connected).await else {
            return Ok(Ending::Interrupted);
        };
        return Session::new(ws?, url, args, clock).run(interrupt).await;
    }
    let Some(ws) = interrupt
        .or(connect(url, target, &handshake, timeout))
        .await
    else {
        return Ok(Ending::Interrupted);
    };
    Session::new(ws?, url, args, clock).run(interrupt).await
}

/// One WebSocket session of `duplex connect`.
struct Session<'a, S> {
    ws: WebSocketStream<S>,
    url: &'a Endpoint,
    args: &'a ConnectArgs,
    clock: &'a Clock,
}

impl<'a, S> Session<'a, S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    fn new(
        ws: WebSocketStream<S>,
        url: &'a Endpoint,
        args: &'a ConnectArgs,
        clock: &'a Clock,
    ) -> Self {
        Session {
            ws,
            url,
            args,
            clock,
        }
    }

    /// `-z` (the handshake worked: close at once, silently) or the pump.
    async fn run(mut self, interrupt: &mut Interrupt) -> anyhow::Result<Ending> {
        if self.args.zero_io {
            let _ = self.close(normal(""), false).await;
            return Ok(Ending::Done);
        }
        self.pump(interrupt).await
    }

    /// Pumps stdin and the WebSocket until either side ends.
    async fn pump(&mut self, interrupt: &mut Interrupt) -> anyhow::Result<Ending> {
        let mut lines = Lines::new(MAX_MESSAGE);
        let mut stdin_open = true;
        self.clock.touch();
        loop {
            tokio::select! {
                m = self.ws.next() => match m {
                    None => return Ok(Ending::Done),
                    Some(Ok(Message::Close(frame))) => {
                        // Let the library send its answer to the close frame.
                        let _ = tokio::time::timeout(CLOSE_WAIT, async {
                            while let Some(Ok(_)) = self.ws.next().await {}
                        })
                        .await;
                        close::by_server(frame.map(to_close))?;
                        return Ok(Ending::Done);
                    }
                    Some(Ok(m)) => {
                        // Pings and pongs are not data.
                        if m.is_text() || m.is_binary() {
                            self.clock.touch();
                        }
                        if let Err(e) = print(&m) {
                            if !stdout_gone(&e) {
                                return Err(stdout_error(e));
                            }
                            // Nobody reads any more: end quietly.
                            let _ = self.close(normal(""), false).await;
                            return Ok(Ending::Done);
                        }
                    }
                    Some(Err(e)) => return Err(ConnectError(format!("WebSocket error: {e}")).into()),
                },
                r = lines.next(), if stdin_open => match r.map_err(stdin_error)? {
                    Line::Eof if self.clock.lingers() => {
                        stdin_open = false;
                        self.clock.stdin_ended();
                    }
                    Line::Eof => return self.close_and_say(Ending::Done).await,
                    Line::TooLong(n) => eprintln!(
                        "duplex: a line of {n} bytes is over the largest message ({MAX_MESSAGE} bytes); not sent"
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

    /// The client ends the session: close 1000, and one line saying so.
    async fn close_and_say(&mut self, ending: Ending) -> anyhow::Result<Ending> {
        let sent = normal("");
        let answer = self.close(sent.clone(), true).await;
        close::by_client(&sent, answer);
        Ok(ending)
    }

    /// Starts the close handshake with `frame` and waits for the server's
    /// answer for at most [`CLOSE_WAIT`], printing what still arrives when
    /// `show`. `None` when the server did not answer in time.
    async fn close(&mut self, frame: Close, show: bool) -> Option<Option<Close>> {
        let frame = CloseFrame {
            code: CloseCode::from(frame.code),
            reason: frame.reason.into(),
        };
        let answer = tokio::time::timeout(CLOSE_WAIT, async {
            self.ws.close(Some(frame)).await.ok()?;
            while let Some(m) = self.ws.next().await {
                match m {
                    Ok(Message::Close(f)) => return Some(f.map(to_close)),
                    // A reader gone now changes nothing: the close goes on.
                    Ok(m) if show => drop(print(&m)),
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
            None
        })
        .await;
        answer.ok().flatten()
    }
}

/// Writes a data message to stdout as one line.
fn print(m: &Message) -> std::io::Result<()> {
    match m {
        Message::Text(t) => write_record(t.as_bytes()),
        Message::Binary(b) => write_record(b),
        _ => Ok(()),
    }
}

/// A close with code 1000.
fn normal(reason: &str) -> Close {
    Close {
        code: 1000,
        reason: reason.into(),
    }
}

fn to_close(f: CloseFrame) -> Close {
    Close {
        code: u16::from(f.code),
        reason: f.reason.to_string(),
    }
}

/// One stdin line as a message: text unless `--binary` (or not UTF-8).
fn message(line: &[u8], binary: bool) -> Message {
    if binary {
        return Message::binary(line.to_vec());
    }
    match std::str::from_utf8(line) {
        Ok(t) => Message::text(t),
        Err(_) => {
            eprintln!(
                "duplex: a line is not valid UTF-8; sent as a binary message (use --binary for all)"
            );
            Message::binary(line.to_vec())
        }
    }
}
