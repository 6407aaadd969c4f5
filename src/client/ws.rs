//! WebSocket client: each stdin line one message, each message one stdout
//! line.
//!
//! At stdin EOF (or Ctrl-C) the client starts the close handshake with code
//! 1000 and keeps printing what arrives until the server answers, for at most
//! one second. The close code and reason the server sends go to stderr.

use std::io::Write;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::dial::{ConnectError, connect_tcp, connect_tls, fail};
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

pub async fn run(url: &Endpoint, target: &WsTarget, args: &ConnectArgs) -> anyhow::Result<()> {
    let handshake = Handshake {
        headers: args.headers.clone(),
        protocol: args.protocol.clone(),
    };
    if let Endpoint::Wss(_) = url {
        let (ca, insecure) = (args.ca.as_deref(), args.insecure);
        let tls = connect_tls(&target.addr, url, args.timeout, ca, insecure).await?;
        let ws = handshake_over(tls, url, target, &handshake, args.timeout).await?;
        return session(ws, args.binary).await;
    }
    let ws = connect(url, target, &handshake, args.timeout).await?;
    session(ws, args.binary).await
}

/// Pumps stdin and the WebSocket until either side ends.
pub async fn session<S>(mut ws: WebSocketStream<S>, binary: bool) -> anyhow::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin());
    let mut line = Vec::new();
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            m = ws.next() => match m {
                None => return Ok(()),
                Some(Ok(Message::Close(frame))) => {
                    // Let tungstenite send its answer to the close frame.
                    let _ = tokio::time::timeout(CLOSE_WAIT, async { while let Some(Ok(_)) = ws.next().await {} }).await;
                    return report_close(frame.as_ref());
                }
                Some(Ok(m)) => print_message(&m)?,
                Some(Err(e)) => return Err(ConnectError(format!("WebSocket error: {e}")).into()),
            },
            r = stdin.read_until(b'\n', &mut line) => {
                // A read cancelled by the other branch keeps what it read in
                // `line`, so EOF may come with the last unterminated line
                // still to send.
                if r? == 0 && line.is_empty() {
                    return close(&mut ws).await;
                }
                let mut payload = line.as_slice();
                if let Some(p) = payload.strip_suffix(b"\n") {
                    payload = p.strip_suffix(b"\r").unwrap_or(p);
                }
                let msg = if binary {
                    Message::binary(payload.to_vec())
                } else {
                    match std::str::from_utf8(payload) {
                        Ok(t) => Message::text(t),
                        Err(_) => {
                            eprintln!("duplex: a line is not valid UTF-8; sent as a binary message (use --binary for all)");
                            Message::binary(payload.to_vec())
                        }
                    }
                };
                line.clear();
                ws.send(msg).await.map_err(|e| ConnectError(format!("cannot send: {e}")))?;
            }
            _ = &mut ctrl_c => return close(&mut ws).await,
        }
    }
}

/// Starts the close handshake and prints what still arrives, for at most
/// [`CLOSE_WAIT`].
async fn close<S>(ws: &mut WebSocketStream<S>) -> anyhow::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let frame = CloseFrame {
        code: CloseCode::Normal,
        reason: "".into(),
    };
    let result = tokio::time::timeout(CLOSE_WAIT, async {
        if ws.close(Some(frame)).await.is_err() {
            return Ok(());
        }
        while let Some(m) = ws.next().await {
            match m {
                Ok(Message::Close(f)) => return report_close(f.as_ref()),
                Ok(m) => print_message(&m)?,
                Err(_) => break,
            }
        }
        Ok(())
    })
    .await;
    result.unwrap_or(Ok(()))
}

/// Writes the server's close code and reason to stderr; an abnormal code is
/// an error.
fn report_close(frame: Option<&CloseFrame>) -> anyhow::Result<()> {
    let Some(f) = frame else {
        eprintln!("duplex: closed by the server");
        return Ok(());
    };
    let code = u16::from(f.code);
    eprintln!("duplex: closed by the server: {code} {}", f.reason);
    if matches!(f.code, CloseCode::Normal | CloseCode::Away) {
        Ok(())
    } else {
        Err(ConnectError(format!(
            "the server closed the connection with code {code} {}",
            f.reason
        ))
        .into())
    }
}

fn print_message(m: &Message) -> std::io::Result<()> {
    let data: &[u8] = match m {
        Message::Text(t) => t.as_bytes(),
        Message::Binary(b) => b,
        _ => return Ok(()),
    };
    let mut out = std::io::stdout().lock();
    out.write_all(data)?;
    if !data.ends_with(b"\n") {
        out.write_all(b"\n")?;
    }
    out.flush()
}
