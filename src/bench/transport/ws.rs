//! WebSocket (`ws://`, `wss://`) for the load generator, on the stack the
//! server and `duplex connect` use ([`crate::websocket`]): everything
//! WebSocket-specific of `duplex bench` is in this file, behind
//! [`super::Connector`] and [`super::Conn`].

use std::io;

use bytes::Bytes;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::{Conn, Connector, Dial, Framing, messages};
use crate::dial::Stream;
use crate::endpoint::WsTarget;
use crate::websocket::{Close, Incoming, Kind, Message, Prefixed, WebSocket};

/// WebSocket over TCP (`ws://`), and over TLS (`wss://`) when `tls`. Every
/// connection completes the HTTP upgrade before it counts as open, so
/// `--hold` holds real WebSocket sessions; with `--compress` each offers
/// permessage-deflate (the dialer's WebSocket options).
pub struct Ws {
    pub dial: Dial,
    pub target: WsTarget,
    /// Text messages instead of binary ones.
    pub text: bool,
}

impl Ws {
    async fn upgrade<S: Stream>(&self, stream: S) -> io::Result<WsConn<S>> {
        let h = (self.dial.dialer)
            .websocket(&self.dial.target, &self.target, stream, None)
            .await?;
        Ok(WsConn {
            ws: h.ws,
            kind: if self.text { Kind::Text } else { Kind::Binary },
        })
    }
}

/// Plain `ws://`.
impl Connector for Ws {
    type Conn = WsConn<TcpStream>;

    async fn connect(&self) -> io::Result<WsConn<TcpStream>> {
        let tcp = self.dial.dialer.tcp(&self.dial.target).await?;
        self.upgrade(tcp).await
    }
}

/// `wss://`: the same client over TLS.
pub struct Wss(pub Ws);

impl Connector for Wss {
    type Conn = WsConn<TlsStream<TcpStream>>;

    async fn connect(&self) -> io::Result<WsConn<TlsStream<TcpStream>>> {
        let dial = &self.0.dial;
        let tls = dial.dialer.tls(&dial.target).await?;
        self.0.upgrade(tls).await
    }
}

/// One WebSocket session of the bench.
pub struct WsConn<S> {
    ws: WebSocket<Prefixed<S>>,
    /// The type of every message sent, and of the replies expected.
    kind: Kind,
}

impl<S: Stream + 'static> Conn for WsConn<S> {
    const FRAMING: Framing = Framing::Message;

    /// Queues every message of the batch, then flushes once: a pipelined
    /// batch goes out in as few writes as the crate's buffer allows. A
    /// single message is sent at once, which for a small one skips the
    /// crate's write buffer (yawc patch 7).
    async fn send(&mut self, data: &[u8], count: usize) -> io::Result<()> {
        for chunk in messages(data, count) {
            // A message owns its payload; the crate masks it while copying
            // it into its write buffer. Text payloads are UTF-8 by
            // construction (`--text` and `--json-text` are ASCII however
            // they are sliced, a request is one whole string), so they are
            // not validated per message (only asserted in debug builds,
            // which the tests run).
            debug_assert!(self.kind == Kind::Binary || std::str::from_utf8(chunk).is_ok());
            let message = Message {
                kind: self.kind,
                payload: Bytes::copy_from_slice(chunk),
            };
            if count == 1 {
                return Ok(self.ws.send(message).await?);
            }
            self.ws.feed(message).await?;
        }
        Ok(self.ws.flush().await?)
    }

    /// The next data message. Pings are answered by the crate; pongs are
    /// skipped. A reply of the other type (text for binary or the reverse)
    /// is reported as an empty message, so the worker counts it as a
    /// mismatch; a close or the end of the stream is a short read.
    async fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let message = match self.ws.recv().await? {
                Incoming::Message(m) => m,
                Incoming::Pong => continue,
                Incoming::Close(_) => return Err(io::ErrorKind::UnexpectedEof.into()),
            };
            if message.kind != self.kind {
                return Ok(0);
            }
            let n = message.payload.len().min(buf.len());
            buf[..n].copy_from_slice(&message.payload[..n]);
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
        let _ = self.ws.send_close(&Close::new(1000, "")).await;
    }
}
