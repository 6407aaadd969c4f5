//! The client's opening handshake (RFC 6455 §4.1), over hyper's HTTP/1.1
//! client: a refused handshake comes back with its status and body, which
//! `duplex connect` prints, and the server's answer is checked before the
//! connection is used (the accept key, the subprotocol, and the
//! permessage-deflate parameters, which RFC 7692 says a client must fail
//! on when they are not what it offered).

use std::future::poll_fn;
use std::io;
use std::pin::pin;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::Connection;
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

use super::config::{Config, accept_key};
use super::deflate::{self, Params};
use super::prefixed::Prefixed;
use super::socket::{Role, WebSocket};
use crate::endpoint::{Host, WsTarget};

/// Bytes of a refusal's body shown to the user.
const BODY_SHOWN: usize = 4096;

/// Headers a user may not set: they are the handshake itself.
const RESERVED: [&str; 6] = [
    "host",
    "upgrade",
    "connection",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-extensions",
];

/// What a client asks for in its opening handshake, and the settings its
/// connections run with (built once, shared by every connection).
#[derive(Clone)]
pub struct ClientOptions {
    /// Extra request headers (`-H`), checked by [`parse_header`].
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The subprotocol to ask for (`--protocol`).
    pub protocol: Option<HeaderValue>,
    /// Messages, limits and compression: compression is offered when the
    /// configuration allows it.
    pub config: Config,
}

impl ClientOptions {
    /// No extra headers or subprotocol; messages up to `max_message`
    /// bytes; permessage-deflate offered when `compress`.
    pub fn new(max_message: usize, compress: bool) -> ClientOptions {
        ClientOptions {
            headers: Vec::new(),
            protocol: None,
            config: Config::new(max_message, compress),
        }
    }
}

/// `-H 'Name: value'` as a request header, or why it cannot be one.
pub fn parse_header(h: &str) -> Result<(HeaderName, HeaderValue), String> {
    let Some((name, value)) = h.split_once(':') else {
        return Err(format!("-H '{h}' is not 'Name: value'"));
    };
    let (name, value) = (name.trim(), value.trim());
    let Ok(header) = HeaderName::from_bytes(name.as_bytes()) else {
        return Err(format!("-H: '{name}' is not a valid header name"));
    };
    let Ok(value) = HeaderValue::from_str(value) else {
        return Err(format!("-H: the value of header '{name}' is not valid"));
    };
    if RESERVED.contains(&header.as_str()) {
        return Err(format!(
            "-H: '{name}' is part of the WebSocket handshake and set by duplex"
        ));
    }
    Ok((header, value))
}

/// An open client connection and what its handshake agreed.
pub struct Handshaken<S> {
    pub ws: WebSocket<Prefixed<S>>,
    /// The subprotocol the server chose, if any.
    pub protocol: Option<String>,
    /// The permessage-deflate parameters in force (`None`: uncompressed).
    pub compression: Option<Params>,
}

/// Why a handshake failed.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// The server answered with another status than 101.
    #[error("the server refused the WebSocket handshake with HTTP {status}{body}")]
    Refused {
        status: StatusCode,
        /// `: ` and the start of the body, or nothing.
        body: String,
    },
    /// The server's 101 answer breaks the protocol.
    #[error("WebSocket handshake failed: {0}")]
    Invalid(String),
    #[error("WebSocket handshake failed: {0}")]
    Http(hyper::Error),
}

impl From<HandshakeError> for io::Error {
    fn from(e: HandshakeError) -> io::Error {
        let kind = match &e {
            HandshakeError::Refused { .. } => io::ErrorKind::ConnectionRefused,
            HandshakeError::Invalid(_) => io::ErrorKind::InvalidData,
            HandshakeError::Http(_) => io::ErrorKind::Other,
        };
        io::Error::new(kind, e.to_string())
    }
}

/// The `Host` header of a target: its host and port (`localhost` for an
/// empty host).
fn host_header(target: &WsTarget) -> String {
    match target.addr.host {
        Host::Any => format!("localhost:{}", target.addr.port),
        _ => target.addr.to_string(),
    }
}

/// The upgrade request, and the key whose answer proves the server read it.
fn request(target: &WsTarget, options: &ClientOptions) -> (Request<Empty<Bytes>>, String) {
    use base64::Engine;
    let key = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 16]>());
    let mut req = Request::new(Empty::new());
    // A path and query from a parsed URL always make a valid request target.
    if let Ok(uri) = target.request_target().parse() {
        *req.uri_mut() = uri;
    }
    let h = req.headers_mut();
    for (name, value) in &options.headers {
        h.append(name, value.clone());
    }
    if let Ok(host) = HeaderValue::from_str(&host_header(target)) {
        h.insert(header::HOST, host);
    }
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(
        header::SEC_WEBSOCKET_VERSION,
        HeaderValue::from_static("13"),
    );
    if let Ok(k) = HeaderValue::from_str(&key) {
        h.insert(header::SEC_WEBSOCKET_KEY, k);
    }
    if let Some(p) = &options.protocol {
        h.insert(header::SEC_WEBSOCKET_PROTOCOL, p.clone());
    }
    if options.config.compression()
        && let Ok(offer) = HeaderValue::from_str(&deflate::offer().to_string())
    {
        h.insert(header::SEC_WEBSOCKET_EXTENSIONS, offer);
    }
    (req, key)
}

/// Performs the opening handshake for `target` over `io` (connected, and
/// inside TLS for `wss://`). The caller bounds it in time.
pub async fn handshake<S>(
    io: S,
    target: &WsTarget,
    options: &ClientOptions,
) -> Result<Handshaken<S>, HandshakeError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (req, key) = request(target, options);
    let (mut sender, mut conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(HandshakeError::Http)?;
    let mut response = {
        let mut send = pin!(sender.send_request(req));
        let mut driven = false;
        loop {
            tokio::select! {
                r = &mut send => break r.map_err(HandshakeError::Http)?,
                r = drive(&mut conn), if !driven => {
                    r.map_err(HandshakeError::Http)?;
                    driven = true;
                }
            }
        }
    };
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        let status = response.status();
        let read = refusal_body(response.body_mut());
        tokio::pin!(read);
        let body = tokio::select! {
            b = &mut read => b,
            // The connection ended (`connection: close`), maybe in the same
            // poll that handed the body over: read what it delivered.
            _ = drive(&mut conn) => tokio::time::timeout(BODY_WAIT, read).await.unwrap_or_default(),
        };
        return Err(HandshakeError::Refused { status, body });
    }
    let (protocol, compression) = check(&response, &key, options)?;
    drive(&mut conn).await.map_err(HandshakeError::Http)?;
    let parts = conn.into_parts();
    let io = Prefixed::new(parts.read_buf, parts.io.into_inner());
    let ws = WebSocket::new(io, Role::Client, compression.as_ref(), &options.config)
        .map_err(|e| HandshakeError::Invalid(e.to_string()))?;
    Ok(Handshaken {
        ws,
        protocol,
        compression,
    })
}

/// Drives the HTTP connection beside the request, without `shutdown` at
/// its end, so that the socket can be taken back after a 101 answer (and
/// the bytes read past it with it).
async fn drive<T>(conn: &mut Connection<T, Empty<Bytes>>) -> hyper::Result<()>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin,
{
    poll_fn(|cx| conn.poll_without_shutdown(cx)).await
}

/// How long the body of a refusal is waited for once its connection ended.
const BODY_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// `: ` and the start of a refusal's body as text, or nothing.
async fn refusal_body(body: &mut hyper::body::Incoming) -> String {
    let mut got = Vec::new();
    while got.len() < BODY_SHOWN {
        match body.frame().await {
            Some(Ok(f)) => {
                if let Some(data) = f.data_ref() {
                    got.extend_from_slice(data);
                }
            }
            _ => break,
        }
    }
    got.truncate(BODY_SHOWN);
    // One line, whatever the server sent: the text lands in log lines and
    // on the terminal, where its line breaks and escapes must not.
    let text = String::from_utf8_lossy(&got)
        .split(char::is_control)
        .flat_map(str::split_whitespace)
        .collect::<Vec<_>>()
        .join(" ");
    if text.is_empty() {
        text
    } else {
        format!(": {text}")
    }
}

/// Checks a 101 answer: upgrade headers, accept key, subprotocol and
/// extensions. Returns the subprotocol and the compression agreed.
fn check(
    response: &hyper::Response<hyper::body::Incoming>,
    key: &str,
    options: &ClientOptions,
) -> Result<(Option<String>, Option<Params>), HandshakeError> {
    let h = response.headers();
    let invalid = |why: &str| Err(HandshakeError::Invalid(why.into()));
    let has_token = |name: HeaderName, token: &str| {
        h.get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    if !has_token(header::UPGRADE, "websocket") || !has_token(header::CONNECTION, "upgrade") {
        return invalid("the answer does not upgrade to websocket");
    }
    if h.get(header::SEC_WEBSOCKET_ACCEPT).map(|v| v.as_bytes())
        != Some(accept_key(key.as_bytes()).as_bytes())
    {
        return invalid("the server's Sec-WebSocket-Accept does not match the key sent");
    }
    let protocol = match h.get(header::SEC_WEBSOCKET_PROTOCOL) {
        None => None,
        Some(p) if offered(options, p) => p.to_str().ok().map(String::from),
        Some(p) => {
            return Err(HandshakeError::Invalid(format!(
                "the server chose a subprotocol that was not asked for: {}",
                String::from_utf8_lossy(p.as_bytes())
            )));
        }
    };
    let answers = h
        .get_all(header::SEC_WEBSOCKET_EXTENSIONS)
        .iter()
        .map(|v| v.to_str().unwrap_or("(not text)"));
    let compression =
        deflate::accept(answers, options.config.compression()).map_err(HandshakeError::Invalid)?;
    Ok((protocol, compression))
}

/// True when `chosen` is one of the subprotocols asked for.
fn offered(options: &ClientOptions, chosen: &HeaderValue) -> bool {
    let (Some(asked), Ok(chosen)) = (&options.protocol, chosen.to_str()) else {
        return false;
    };
    asked
        .to_str()
        .is_ok_and(|a| a.split(',').any(|p| p.trim() == chosen.trim()))
}
