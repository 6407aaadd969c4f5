//! Helpers of the bridge tests: `duplex bridge` started for real, an
//! upstream echo on any transport, clients of any transport, and the
//! bridge's metrics read over HTTP.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use std::path::Path;
use std::time::Duration;
use tokio_tungstenite::tungstenite;

use crate::common::*;
use crate::tlsutil::{CertFiles, TlsStream, tls_args};

/// A transport of the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum T {
    Tcp,
    Unix,
    Tls,
    Udp,
    Ws,
    Wss,
}

impl T {
    /// A URL to listen on: port 0, or a socket file in `dir`.
    pub fn listen_url(self, dir: &Path, name: &str) -> String {
        match self {
            T::Tcp => "tcp://127.0.0.1:0".into(),
            T::Tls => "tls://127.0.0.1:0".into(),
            T::Udp => "udp://127.0.0.1:0".into(),
            T::Unix => unix_url(dir, name),
            T::Ws => "ws://127.0.0.1:0/".into(),
            T::Wss => "wss://127.0.0.1:0/".into(),
        }
    }

    /// Whether its peers send whole messages (UDP, WebSocket).
    pub fn messages(self) -> bool {
        matches!(self, T::Udp | T::Ws | T::Wss)
    }

    /// The `transport` label of its metrics.
    pub fn label(self) -> &'static str {
        match self {
            T::Tcp => "tcp",
            T::Unix => "unix",
            T::Tls => "tls",
            T::Udp => "udp",
            T::Ws => "ws",
            T::Wss => "wss",
        }
    }
}

/// `duplex serve echo URL` (with the certificate for tls:// and wss://).
pub fn echo_upstream(t: T, dir: &Path, cert: &CertFiles) -> Server {
    let url = match t {
        T::Ws => "ws://127.0.0.1:0/echo".into(),
        T::Wss => "wss://127.0.0.1:0/echo".into(),
        _ => t.listen_url(dir, "upstream.sock"),
    };
    let tls = tls_args(cert);
    let extra: Vec<&str> = if matches!(t, T::Tls | T::Wss) {
        tls.iter().map(String::as_str).collect()
    } else {
        Vec::new()
    };
    Server::serve("echo", &[&url], &extra)
}

/// `duplex bridge FROM TO EXTRA…` (with --metrics: the metrics URL is
/// `listening[0]` and the bridge's `listening[1]`).
pub fn bridge(from: &str, to: &str, extra: &[&str]) -> Server {
    let mut args = vec!["bridge", from, to];
    args.extend_from_slice(extra);
    let lines = if extra.contains(&"--metrics") { 2 } else { 1 };
    let s = Server::start(&args, lines);
    assert_eq!(s.listening[lines - 1].0, "bridge", "{:?}", s.listening);
    s
}

/// The bridge's own URL in the `listening` lines.
pub fn bridge_url(s: &Server) -> &str {
    let last = s.listening.len() - 1;
    s.url(last)
}

/// A WebSocket client (tungstenite) over TCP or TLS.
pub type WsClient = tungstenite::WebSocket<Box<dyn Stream>>;

/// A client of a bridge's FROM.
pub enum Client {
    Stream(Conn),
    Udp(Udp),
    Ws(Box<WsClient>),
}

/// Opens a WebSocket to a `ws://` or `wss://` URL (trusting `cert`).
pub fn ws_client(url: &str, cert: &CertFiles) -> WsClient {
    let (tls, rest) = match url.split_once("://") {
        Some(("wss", rest)) => (true, rest),
        Some(("ws", rest)) => (false, rest),
        _ => panic!("not a WebSocket URL: {url}"),
    };
    let authority = rest.split('/').next().expect("authority");
    let addr: SocketAddr = authority.parse().expect("an IP literal and port");
    let tcp = TcpStream::connect_timeout(&addr, WAIT).expect("connect");
    let stream: Box<dyn Stream> = if tls {
        Box::new(TlsStream::over(tcp, &cert.cert))
    } else {
        Box::new(tcp)
    };
    stream.set_read_timeout(Some(WAIT)).expect("timeout");
    stream.set_write_timeout(Some(WAIT)).expect("timeout");
    match tungstenite::client(format!("ws://{rest}"), stream) {
        Ok((ws, _)) => ws,
        Err(e) => panic!("WebSocket handshake with {url}: {e}"),
    }
}

/// What a WebSocket client got next.
#[derive(Debug)]
pub enum WsNext {
    Msg(tungstenite::Message),
    /// A close frame: its code and reason (`None`: no code).
    Close(Option<(u16, String)>),
    /// The connection ended without a close frame, or timed out.
    Failed(String),
}

/// The next message or close, skipping pings and pongs.
pub fn ws_next(ws: &mut WsClient) -> WsNext {
    loop {
        match ws.read() {
            Ok(tungstenite::Message::Close(f)) => {
                let _ = ws.flush();
                return WsNext::Close(f.map(|f| (u16::from(f.code), f.reason.to_string())));
            }
            Ok(tungstenite::Message::Ping(_) | tungstenite::Message::Pong(_)) => {}
            Ok(m) => return WsNext::Msg(m),
            Err(e) => return WsNext::Failed(e.to_string()),
        }
    }
}

impl Client {
    /// Connects to `url` (a tls:// one trusting `cert`).
    pub fn to(url: &str, cert: &CertFiles) -> Client {
        if let Some(hp) = url.strip_prefix("tls://") {
            let addr: SocketAddr = hp.parse().expect("tls address");
            Client::Stream(TlsStream::connect(addr, &cert.cert).conn())
        } else if url.starts_with("udp://") {
            Client::Udp(Udp::to(socket_addr(url)))
        } else if url.starts_with("ws://") || url.starts_with("wss://") {
            Client::Ws(Box::new(ws_client(url, cert)))
        } else {
            Client::Stream(Conn::to(url))
        }
    }

    /// Sends `data` and expects it back whole; returns the number of
    /// datagrams or messages it came back in (1 for a stream). Over UDP
    /// and WebSocket it may come back in several, when a stream upstream
    /// cut it up (at most the buffer size each).
    pub fn round_trip(&mut self, data: &[u8]) -> usize {
        match self {
            Client::Stream(c) => {
                c.send(data);
                let back = c.read_exact_within(data.len(), WAIT);
                assert!(back == data, "{} bytes came back different", data.len());
                1
            }
            Client::Udp(u) => {
                u.send(data);
                let mut back = Vec::new();
                let mut n = 0;
                while back.len() < data.len() {
                    back.extend(u.recv());
                    n += 1;
                }
                assert!(
                    back == data,
                    "{} bytes in a datagram came back as {} different bytes",
                    data.len(),
                    back.len()
                );
                n
            }
            Client::Ws(ws) => {
                ws.send(tungstenite::Message::binary(data.to_vec()))
                    .expect("send a binary message");
                let mut back = Vec::new();
                let mut n = 0;
                while back.len() < data.len() {
                    match ws_next(ws) {
                        WsNext::Msg(tungstenite::Message::Binary(b)) => back.extend_from_slice(&b),
                        other => panic!("expected a binary message back, got {other:?}"),
                    }
                    n += 1;
                }
                assert!(
                    back == data,
                    "{} bytes in a message came back as {} different bytes",
                    data.len(),
                    back.len()
                );
                n
            }
        }
    }
}

/// Binary data with every byte value.
pub fn binary(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + i / 251) as u8).collect()
}

/// `GET /metrics` from a `--metrics` URL.
pub fn metrics(url: &str) -> String {
    let mut s = TcpStream::connect(socket_addr(url)).expect("connect to --metrics");
    s.set_read_timeout(Some(WAIT)).expect("timeout");
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("request");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// The value of the sample `name{labels}` in a metrics text.
pub fn sample(text: &str, name_and_labels: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name_and_labels)?.trim().parse().ok())
}

/// Waits until the bridge's active sessions of `transport` are back to 0.
pub fn sessions_end(metrics_url: &str, transport: &str) {
    let key = format!("duplex_connections_active{{service=\"bridge\",transport=\"{transport}\"}}");
    let mut last = String::new();
    let ok = eventually(WAIT, || {
        last = metrics(metrics_url);
        sample(&last, &key) == Some(0)
    });
    assert!(ok, "{key} did not come back to 0:\n{last}");
}

/// Waits until `s`'s stderr has `n` lines containing all of `wants`, and
/// returns those lines.
pub fn log_lines(s: &Server, wants: &[&str], n: usize) -> Vec<String> {
    let mut found = Vec::new();
    let ok = eventually(WAIT, || {
        found = s
            .stderr()
            .lines()
            .filter(|l| wants.iter().all(|w| l.contains(w)))
            .map(String::from)
            .collect();
        found.len() >= n
    });
    assert!(ok, "no {n} log lines with {wants:?}: {}", s.stderr());
    found
}

/// How long a test waits to see that nothing happens.
pub const BRIEF: Duration = Duration::from_millis(300);
