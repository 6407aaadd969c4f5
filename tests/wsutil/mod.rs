//! WebSocket helpers of the integration tests: a blocking tungstenite client
//! with a timeout on every read, raw frames for what a well-behaved client
//! never sends, plain HTTP requests, and small WebSocket servers for testing
//! `duplex connect ws://`. Every wait is bounded by [`WAIT`].

#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Response as ClientResponse;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Error, HandshakeError, Message, WebSocket};

use crate::common::WAIT;

pub type Ws = WebSocket<TcpStream>;

/// `HOST:PORT` of a `ws://HOST:PORT/…` URL.
pub fn ws_addr(url: &str) -> SocketAddr {
    let rest = url.strip_prefix("ws://").expect("a ws:// URL");
    let authority = rest.split(['/', '?']).next().expect("authority");
    authority
        .parse()
        .unwrap_or_else(|e| panic!("{url}: not an IP literal and port: {e}"))
}

/// A TCP connection to `addr` with [`WAIT`] read and write timeouts.
pub fn tcp(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, WAIT)
        .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    s.set_read_timeout(Some(WAIT)).expect("read timeout");
    s.set_write_timeout(Some(WAIT)).expect("write timeout");
    s
}

/// Opens a WebSocket with extra request headers; the handshake's HTTP error
/// (`Error::Http`) when the server refuses it.
pub fn try_ws(url: &str, headers: &[(&str, &str)]) -> Result<(Ws, ClientResponse), Error> {
    let mut req = url.into_client_request()?;
    for (k, v) in headers {
        req.headers_mut().append(
            tungstenite::http::HeaderName::from_bytes(k.as_bytes()).expect("header name"),
            HeaderValue::from_str(v).expect("header value"),
        );
    }
    let stream = tcp(ws_addr(url));
    match tungstenite::client(req, stream) {
        Ok(x) => Ok(x),
        Err(HandshakeError::Failure(e)) => Err(e),
        Err(HandshakeError::Interrupted(_)) => panic!("{url}: the handshake timed out"),
    }
}

/// Opens a WebSocket to `url`, panicking if the handshake fails.
pub fn ws(url: &str) -> Ws {
    try_ws(url, &[])
        .unwrap_or_else(|e| panic!("WebSocket handshake with {url}: {e}"))
        .0
}

/// What the server did next.
#[derive(Debug)]
pub enum Next {
    Msg(Message),
    /// A close frame: code and reason (`None` without a code).
    Close(Option<(u16, String)>),
    /// The connection ended without a close frame.
    Dropped(String),
    Timeout,
}

/// The next data message or close, skipping pings and pongs, within
/// `timeout`.
pub fn next_within(ws: &mut Ws, timeout: Duration) -> Next {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Next::Timeout;
        }
        ws.get_ref()
            .set_read_timeout(Some(left))
            .expect("read timeout");
        match ws.read() {
            Ok(Message::Close(f)) => {
                // Send tungstenite's answer to the close frame.
                let _ = ws.flush();
                return Next::Close(f.map(|f| (u16::from(f.code), f.reason.to_string())));
            }
            Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => {}
            Ok(m) => return Next::Msg(m),
            Err(Error::Io(e))
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Next::Timeout;
            }
            Err(e) => return Next::Dropped(e.to_string()),
        }
    }
}

/// The next data message; panics on anything else after [`WAIT`].
pub fn recv(ws: &mut Ws) -> Message {
    match next_within(ws, WAIT) {
        Next::Msg(m) => m,
        other => panic!("expected a message, got {other:?}"),
    }
}

/// The next message, which must be text.
pub fn recv_text(ws: &mut Ws) -> String {
    match recv(ws) {
        Message::Text(t) => t.to_string(),
        other => panic!("expected a text message, got {other:?}"),
    }
}

/// Sends a text message.
pub fn send_text(ws: &mut Ws, text: &str) {
    ws.send(Message::text(text)).expect("send a text message");
}

/// Sends a text message and returns the text reply.
pub fn ask(ws: &mut Ws, text: &str) -> String {
    send_text(ws, text);
    recv_text(ws)
}

/// Waits for a close frame and returns its code and reason.
pub fn expect_close(ws: &mut Ws, timeout: Duration) -> (u16, String) {
    match next_within(ws, timeout) {
        Next::Close(Some(c)) => c,
        other => panic!("expected a close frame with a code, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------
// Raw frames

pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xA;

/// One frame: `first` is the first byte (FIN, RSV bits, opcode), `mask` the
/// masking key (clients must mask; `None` sends an unmasked frame).
pub fn frame(first: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut f = vec![first];
    let m = if mask.is_some() { 0x80 } else { 0 };
    let n = payload.len();
    if n < 126 {
        f.push(m | n as u8);
    } else if n <= 0xffff {
        f.push(m | 126);
        f.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        f.push(m | 127);
        f.extend_from_slice(&(n as u64).to_be_bytes());
    }
    match mask {
        Some(k) => {
            f.extend_from_slice(&k);
            f.extend(payload.iter().enumerate().map(|(i, b)| b ^ k[i % 4]));
        }
        None => f.extend_from_slice(payload),
    }
    f
}

/// A masked frame with FIN set, as a client sends it.
pub fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    frame(0x80 | opcode, payload, Some([0x12, 0x34, 0x56, 0x78]))
}

/// Reads one (unmasked) frame: the first byte and the payload; `None` when
/// the connection ends first. Panics after [`WAIT`].
pub fn read_frame(s: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    fn exact(s: &mut TcpStream, n: usize) -> Option<Vec<u8>> {
        let mut buf = vec![0u8; n];
        match s.read_exact(&mut buf) {
            Ok(()) => Some(buf),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                panic!("no frame within the read timeout")
            }
            Err(_) => None,
        }
    }
    let head = exact(s, 2)?;
    let len = match head[1] & 0x7f {
        126 => u16::from_be_bytes(exact(s, 2)?.try_into().expect("2 bytes")) as usize,
        127 => u64::from_be_bytes(exact(s, 8)?.try_into().expect("8 bytes")) as usize,
        n => n as usize,
    };
    assert_eq!(head[1] & 0x80, 0, "the server masked a frame");
    Some((head[0], exact(s, len)?))
}

/// Reads frames until a close frame and returns its code; panics if the
/// connection ends without one.
pub fn read_close_code(s: &mut TcpStream) -> u16 {
    loop {
        match read_frame(s) {
            Some((first, payload)) if first & 0x0f == OP_CLOSE => {
                assert!(payload.len() >= 2, "a close frame without a code");
                return u16::from_be_bytes([payload[0], payload[1]]);
            }
            Some(_) => {}
            None => panic!("the connection ended without a close frame"),
        }
    }
}

/// Completes a WebSocket handshake by hand and returns the raw stream.
pub fn raw_ws(addr: SocketAddr, path: &str) -> TcpStream {
    let mut s = tcp(addr);
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .expect("send the handshake");
    let head = read_head(&mut s);
    assert!(
        head.starts_with("HTTP/1.1 101"),
        "handshake refused: {head}"
    );
    assert!(
        head.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
        "wrong Sec-WebSocket-Accept: {head}"
    );
    s
}

/// Reads an HTTP head (up to the empty line) byte by byte.
pub fn read_head(s: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut b) {
            Ok(1) => head.push(b[0]),
            Ok(_) => break,
            Err(e) => panic!(
                "reading an HTTP head: {e}; have {:?}",
                String::from_utf8_lossy(&head)
            ),
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

// ---------------------------------------------------------------------------
// Plain HTTP

/// An HTTP response: status code, head (lower-cased) and body.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub head: String,
    pub body: String,
}

/// Sends `request` as is and reads the response until the server closes.
pub fn http_raw(addr: SocketAddr, request: &[u8]) -> Option<HttpResponse> {
    let mut s = tcp(addr);
    s.write_all(request).expect("send the request");
    let mut all = Vec::new();
    let _ = s.read_to_end(&mut all);
    let text = String::from_utf8_lossy(&all).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some(HttpResponse {
        status,
        head: head.to_ascii_lowercase(),
        body: body.to_string(),
    })
}

/// `METHOD path` with `Connection: close`.
pub fn http(addr: SocketAddr, method: &str, path: &str) -> HttpResponse {
    let req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    http_raw(addr, req.as_bytes()).unwrap_or_else(|| panic!("no HTTP response to {method} {path}"))
}

// ---------------------------------------------------------------------------
// Servers for `duplex connect`

/// What a recording server saw.
#[derive(Debug, PartialEq, Eq)]
pub enum Seen {
    /// The handshake: request target and headers (names lower-case).
    Request(String, Vec<(String, String)>),
    Text(String),
    Binary(Vec<u8>),
    Close(Option<u16>),
}

/// A WebSocket echo server for one client that reports what it receives.
pub struct RecordingServer {
    pub addr: SocketAddr,
    pub seen: Receiver<Seen>,
}

impl RecordingServer {
    // The handshake callback's error type is tungstenite's HTTP response.
    #[allow(clippy::result_large_err)]
    pub fn start() -> RecordingServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let Some(s) = accept_within(&listener, WAIT) else {
                return;
            };
            let tx2 = tx.clone();
            let callback = move |req: &Request, resp: Response| {
                let headers = req
                    .headers()
                    .iter()
                    .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
                    .collect();
                let _ = tx2.send(Seen::Request(req.uri().to_string(), headers));
                // Agree to the first subprotocol asked for, if any.
                let mut resp = resp;
                let first = req
                    .headers()
                    .get("sec-websocket-protocol")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.split(',').next())
                    .and_then(|p| HeaderValue::from_str(p.trim()).ok());
                if let Some(p) = first {
                    resp.headers_mut().insert("sec-websocket-protocol", p);
                }
                Ok(resp)
            };
            let Ok(mut ws) = tungstenite::accept_hdr(s, callback) else {
                return;
            };
            loop {
                match ws.read() {
                    Ok(Message::Text(t)) => {
                        let _ = tx.send(Seen::Text(t.to_string()));
                        let _ = ws.send(Message::Text(t));
                    }
                    Ok(Message::Binary(b)) => {
                        let _ = tx.send(Seen::Binary(b.to_vec()));
                        let _ = ws.send(Message::Binary(b));
                    }
                    Ok(Message::Close(f)) => {
                        let _ = tx.send(Seen::Close(f.map(|f| u16::from(f.code))));
                        let _ = ws.flush();
                        return;
                    }
                    Ok(_) => {}
                    Err(_) => return,
                }
            }
        });
        RecordingServer { addr, seen: rx }
    }

    pub fn url(&self, target: &str) -> String {
        format!("ws://{}{target}", self.addr)
    }

    /// The next thing seen; panics after [`WAIT`].
    pub fn next(&self) -> Seen {
        self.seen
            .recv_timeout(WAIT)
            .expect("the recording server saw nothing more")
    }
}

/// Accepts one connection within `timeout`.
pub fn accept_within(listener: &TcpListener, timeout: Duration) -> Option<TcpStream> {
    listener.set_nonblocking(true).expect("nonblocking");
    let deadline = Instant::now() + timeout;
    loop {
        match listener.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).expect("blocking");
                s.set_read_timeout(Some(WAIT)).expect("read timeout");
                s.set_write_timeout(Some(WAIT)).expect("write timeout");
                return Some(s);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    return None;
                }
                thread::sleep(Duration::from_millis(10));
            }
            Err(_) => return None,
        }
    }
}

/// Reads a client's opening handshake from `s` and answers it with 101,
/// by hand (no subprotocol, no extension), for servers that then speak
/// raw frames.
pub fn answer_handshake(s: &mut TcpStream) {
    let head = read_head(s);
    let key = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("sec-websocket-key")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_default();
    let accept = derive_accept_key(key.as_bytes());
    let _ = write!(
        s,
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n\r\n"
    );
}

/// A server that completes the WebSocket handshake and then ignores
/// everything: it never answers a close frame. It holds the connection for
/// `hold`.
pub fn deaf_server(hold: Duration) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    thread::spawn(move || {
        let Some(mut s) = accept_within(&listener, WAIT) else {
            return;
        };
        answer_handshake(&mut s);
        let deadline = Instant::now() + hold;
        let mut buf = [0u8; 4096];
        let _ = s.set_read_timeout(Some(Duration::from_millis(50)));
        while Instant::now() < deadline {
            match s.read(&mut buf) {
                Ok(0) => break,
                _ => continue,
            }
        }
    });
    addr
}
