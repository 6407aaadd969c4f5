//! Per-transport connect, send and receive for the load generator.
//!
//! The load loops in [`super::worker`] are generic over [`Connector`] and
//! [`Conn`], so each transport compiles to its own tight loop with no dynamic
//! dispatch on the hot path. A transport only says how to open a connection,
//! how to put a batch of messages on the wire and how to take bytes (stream)
//! or one message (datagram, WebSocket) off it; verification, timing, timeouts
//! and error accounting are written once in the worker.
//!
//! # Adding a transport
//!
//! Implement [`Connector`] (open one connection, including any handshake) and
//! [`Conn`] with `FRAMING = Framing::Message` for a message transport (one
//! echoed message per `recv`, its payload copied into the buffer, as
//! [`WsConn`] does) or `Framing::Stream` for a byte stream (as TLS does);
//! then add one arm to `bench::run` that maps the endpoint to the connector.
//! Nothing else changes.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket, UnixStream};
use tokio_rustls::client::TlsStream;
use tokio_websockets::{ClientBuilder, Error as WsError, Message, Payload, WebSocketStream};

use crate::client::ws::request_uri;
use crate::endpoint::{Endpoint, WsTarget};

/// How a transport delimits the echoed messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// A byte stream (TCP, Unix, TLS): replies arrive as bytes in any
    /// chunking, and the worker cuts them into messages by size.
    Stream,
    /// One reply per `recv` (UDP datagrams, WebSocket messages).
    Message,
}

/// Opens connections to one server. Shared by every worker task.
pub trait Connector: Send + Sync + 'static {
    type Conn: Conn;
    /// Opens one connection, handshake included, ready to carry messages.
    fn connect(&self) -> impl Future<Output = io::Result<Self::Conn>> + Send;
}

/// One open connection.
pub trait Conn: Send + 'static {
    const FRAMING: Framing;

    /// Sends `count` messages of equal size (`data.len() / count` bytes,
    /// possibly 0), laid out back to back in `data`. A stream transport
    /// writes them in one go; a message transport sends each as its own
    /// datagram or message.
    fn send(&mut self, data: &[u8], count: usize) -> impl Future<Output = io::Result<()>> + Send;

    /// Receives into `buf`. Stream: any number of bytes, 0 meaning the peer
    /// closed. Message: exactly one message, returning its length (a message
    /// longer than `buf` is reported truncated to `buf.len()`).
    fn recv(&mut self, buf: &mut [u8]) -> impl Future<Output = io::Result<usize>> + Send;

    /// Called after a reply timed out. A message transport discards replies
    /// that are already queued (late ones would be taken for the next batch)
    /// and returns true: the connection can go on. A stream cannot tell where
    /// it is any more and returns false: the worker reconnects.
    fn resync(&mut self) -> bool;
}

/// TCP: `TCP_NODELAY` like any latency-sensitive client.
pub struct Tcp {
    pub addrs: Vec<SocketAddr>,
}

impl Connector for Tcp {
    type Conn = TcpStream;

    async fn connect(&self) -> io::Result<TcpStream> {
        tcp_connect(&self.addrs).await
    }
}

async fn tcp_connect(addrs: &[SocketAddr]) -> io::Result<TcpStream> {
    let stream = TcpStream::connect(addrs).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// TLS over TCP (rustls): a byte stream like TCP once the handshake is done.
/// The client configuration (trusted roots, `--ca`, `--insecure`) is built
/// once and shared by every connection.
pub struct Tls {
    pub addrs: Vec<SocketAddr>,
    pub connector: tokio_rustls::TlsConnector,
    pub name: rustls::pki_types::ServerName<'static>,
}

impl Tls {
    /// TLS to `host` (the name the certificate must be for) at `addrs`.
    pub fn new(
        addrs: Vec<SocketAddr>,
        host: &str,
        ca: Option<&std::path::Path>,
        insecure: bool,
    ) -> anyhow::Result<Tls> {
        Ok(Tls {
            addrs,
            connector: tokio_rustls::TlsConnector::from(crate::tls::client_config(ca, insecure)?),
            name: crate::tls::server_name(host)?,
        })
    }

    async fn open(&self) -> io::Result<TlsStream<TcpStream>> {
        let tcp = tcp_connect(&self.addrs).await?;
        self.connector.connect(self.name.clone(), tcp).await
    }
}

impl Connector for Tls {
    type Conn = TlsStream<TcpStream>;

    async fn connect(&self) -> io::Result<TlsStream<TcpStream>> {
        self.open().await
    }
}

impl Conn for TlsStream<TcpStream> {
    const FRAMING: Framing = Framing::Stream;

    async fn send(&mut self, data: &[u8], _count: usize) -> io::Result<()> {
        // rustls buffers the records; flush puts them on the wire.
        self.write_all(data).await?;
        self.flush().await
    }

    async fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read(buf).await
    }

    fn resync(&mut self) -> bool {
        false
    }
}

/// A plain byte stream (TCP, Unix): messages are written back to back and
/// replies read as they come.
macro_rules! plain_stream_conn {
    ($($t:ty),*) => {$(
        impl Conn for $t {
            const FRAMING: Framing = Framing::Stream;

            async fn send(&mut self, data: &[u8], _count: usize) -> io::Result<()> {
                self.write_all(data).await
            }

            async fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                self.read(buf).await
            }

            fn resync(&mut self) -> bool {
                false
            }
        }
    )*};
}

plain_stream_conn!(TcpStream, UnixStream);

/// Unix domain stream socket.
pub struct Unix {
    pub path: PathBuf,
}

impl Connector for Unix {
    type Conn = UnixStream;

    async fn connect(&self) -> io::Result<UnixStream> {
        UnixStream::connect(&self.path).await
    }
}

/// UDP: each bench "connection" is its own connected socket, so the kernel
/// filters out datagrams from anyone but the server and the server sees one
/// peer per connection.
pub struct Udp {
    pub addrs: Vec<SocketAddr>,
}

impl Connector for Udp {
    type Conn = UdpSocket;

    async fn connect(&self) -> io::Result<UdpSocket> {
        let mut last = io::Error::new(io::ErrorKind::NotFound, "no address to connect to");
        for addr in &self.addrs {
            let local: SocketAddr = if addr.is_ipv4() {
                ([0, 0, 0, 0], 0).into()
            } else {
                ([0u16; 8], 0).into()
            };
            let socket = UdpSocket::bind(local).await?;
            match socket.connect(addr).await {
                Ok(()) => return Ok(socket),
                Err(e) => last = e,
            }
        }
        Err(last)
    }
}

impl Conn for UdpSocket {
    const FRAMING: Framing = Framing::Message;

    async fn send(&mut self, data: &[u8], count: usize) -> io::Result<()> {
        for message in messages(data, count) {
            UdpSocket::send(self, message).await?;
        }
        Ok(())
    }

    async fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        UdpSocket::recv(self, buf).await
    }

    fn resync(&mut self) -> bool {
        let mut scratch = [0u8; 2048];
        while self.try_recv(&mut scratch).is_ok() {}
        true
    }
}

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
        let client = ClientBuilder::new()
            .uri(&request_uri(&self.url, &self.target))
            .map_err(|e| refused(e.to_string()))?;
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
}

/// The `count` equal messages laid out back to back in `data` (empty ones
/// too, which `chunks` cannot express).
fn messages(data: &[u8], count: usize) -> impl Iterator<Item = &[u8]> {
    let size = data.len() / count.max(1);
    (0..count).map(move |i| &data[i * size..(i + 1) * size])
}

/// A WebSocket error as the I/O error the worker counts.
fn ws_io(e: WsError) -> io::Error {
    match e {
        WsError::Io(e) => e,
        WsError::AlreadyClosed => io::ErrorKind::UnexpectedEof.into(),
        other => io::Error::other(other),
    }
}
