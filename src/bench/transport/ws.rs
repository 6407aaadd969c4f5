//! WebSocket (`ws://`, `wss://`) for the load generator, on
//! tokio-websockets: everything WebSocket-specific of `duplex bench` is in
//! this file, behind [`super::Connector`] and [`super::Conn`].

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_websockets::{
    ClientBuilder, CloseCode, Error as WsError, Message, Payload, WebSocketStream,
};

use super::{Conn, Connector, Framing, Tls, messages, tcp_connect};
use crate::bench::settings::Handshake;
use crate::client::ws::request_uri;
use crate::endpoint::{Endpoint, WsTarget};

/// WebSocket (`ws://`, and `wss://` when `tls` is set) on tokio-websockets,
/// the crate the server uses: it sends payloads without copying them into
/// a frame buffer, which keeps the load generator's CPU per message below
/// the server's (BENCHMARKS.md). Every connection completes the HTTP
/// upgrade before it counts as open, so `--hold` holds real WebSocket
/// sessions.
pub struct Ws {
    pub url: Endpoint,
    pub target: WsTarget,
    pub addrs: Vec<SocketAddr>,
    /// `wss://`: TLS first, then the upgrade.
    pub tls: Option<Tls>,
    /// Text messages instead of binary ones.
    pub text: bool,
    /// Limit for the upgrade (the connect itself is bounded by the worker).
    pub timeout: Duration,
    /// Extra request headers and the subprotocol (`-H`, `--protocol`).
    pub handshake: Handshake,
}

impl Ws {
    async fn upgrade<S>(&self, stream: S) -> io::Result<WsConn<S>>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let refused = |e: String| {
            io::Error::new(
                io::ErrorKind::ConnectionRefused,
                format!("{}: {e}", self.url),
            )
        };
        let mut client = ClientBuilder::new()
            .uri(&request_uri(&self.url, &self.target))
            .map_err(|e| refused(e.to_string()))?;
        let protocol = self
            .handshake
            .protocol
            .as_ref()
            .map(|p| ("sec-websocket-protocol", p.as_str()));
        let headers = self
            .handshake
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()));
        for (name, value) in headers.chain(protocol) {
            // Checked as header syntax by the settings already.
            let (Ok(name), Ok(value)) = (
                hyper::http::HeaderName::from_bytes(name.as_bytes()),
                hyper::http::HeaderValue::from_str(value),
            ) else {
                return Err(refused(format!("header '{name}' is not valid")));
            };
            client = client
                .add_header(name, value)
                .map_err(|e| refused(e.to_string()))?;
        }
        let (ws, _response) = tokio::time::timeout(self.timeout, client.connect_on(stream))
            .await
            .map_err(|_| {
                refused(format!(
                    "the WebSocket handshake timed out after {:?}",
                    self.timeout
                ))
            })?
            .map_err(|e| refused(format!("the WebSocket handshake failed: {e}")))?;
        Ok(WsConn {
            ws,
            text: self.text,
        })
    }
}

/// Plain `ws://`.
impl Connector for Ws {
    type Conn = WsConn<TcpStream>;

    async fn connect(&self) -> io::Result<WsConn<TcpStream>> {
        self.upgrade(tcp_connect(&self.addrs).await?).await
    }
}

/// `wss://`: the same client over TLS.
pub struct Wss(pub Ws);

impl Connector for Wss {
    type Conn = WsConn<TlsStream<TcpStream>>;

    async fn connect(&self) -> io::Result<WsConn<TlsStream<TcpStream>>> {
        let tls = self.0.tls.as_ref().ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "wss:// without a TLS setup")
        })?;
        self.0.upgrade(tls.open().await?).await
    }
}

/// One WebSocket session of the bench.
pub struct WsConn<S> {
    ws: WebSocketStream<S>,
    text: bool,
}

impl<S> Conn for WsConn<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    const FRAMING: Framing = Framing::Message;

    /// Queues every message of the batch, then flushes once: a pipelined
    /// batch goes out in as few writes as the crate's queue allows.
    async fn send(&mut self, data: &[u8], count: usize) -> io::Result<()> {
        for chunk in messages(data, count) {
            // The client masks each payload in place, so it needs a copy it
            // owns: one per message, inherent to the protocol's masking.
            let payload = Payload::from(Bytes::copy_from_slice(chunk));
            let message = if self.text {
                // UTF-8 by construction, so not validated per message
                // (only asserted in debug builds, which the tests run):
                // `--text` payloads are printable ASCII however they are
                // sliced, and a request is one whole `--request` string.
                debug_assert!(std::str::from_utf8(chunk).is_ok());
                Message::text(payload)
            } else {
                Message::binary(payload)
            };
            self.ws.feed(message).await.map_err(ws_io)?;
        }
        self.ws.flush().await.map_err(ws_io)
    }

    /// The next data message. Pings are answered by the crate and skipped
    /// here with pongs. A reply of the other type (text for binary or the
    /// reverse) is reported as an empty message, so the worker counts it as
    /// a mismatch; a close or the end of the stream is a short read.
    async fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let message = match self.ws.next().await {
                None => return Err(io::ErrorKind::UnexpectedEof.into()),
                Some(Err(e)) => return Err(ws_io(e)),
                Some(Ok(m)) => m,
            };
            if message.is_close() {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            let expected = if self.text {
                message.is_text()
            } else {
                message.is_binary()
            };
            if !expected {
                if message.is_text() || message.is_binary() {
                    return Ok(0);
                }
                continue;
            }
            let payload = message.as_payload();
            let n = payload.len().min(buf.len());
            buf[..n].copy_from_slice(&payload[..n]);
            return Ok(n);
        }
    }

    /// After a timeout the late replies may still be on their way, and a
    /// WebSocket stream cannot be drained without waiting: reconnect instead.
    fn resync(&mut self) -> bool {
        false
    }

    /// Sends close 1000; the worker does not wait for the answer.
    async fn close(&mut self) {
        let _ = self
            .ws
            .send(Message::close(Some(CloseCode::NORMAL_CLOSURE), ""))
            .await;
    }
}

/// A WebSocket error as the I/O error the worker counts.
fn ws_io(e: WsError) -> io::Error {
    match e {
        WsError::Io(e) => e,
        WsError::AlreadyClosed => io::ErrorKind::UnexpectedEof.into(),
        other => io::Error::other(other),
    }
}
