//! Per-transport connect, send and receive for the load generator.
//!
//! The load loops in `super::worker` are generic over `Connector` and
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
//! [`ws::WsConn`] does) or `Framing::Stream` for a byte stream (as TLS does);
//! then add one arm to `bench::run::connector` that maps the endpoint to the connector.
//! Nothing else changes.

use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket, UnixStream};
use tokio_rustls::client::TlsStream;

use crate::dial::{Dialer, Target};

pub mod ws;

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

    /// Like [`Conn::recv`], for the last reply the worker waits for: a
    /// transport may then assume the socket is drained afterwards, so that
    /// its next receive waits for readiness instead of trying first.
    fn recv_last(&mut self, buf: &mut [u8]) -> impl Future<Output = io::Result<usize>> + Send {
        self.recv(buf)
    }

    /// Called after a reply timed out. A message transport discards replies
    /// that are already queued (late ones would be taken for the next batch)
    /// and returns true: the connection can go on. A stream cannot tell where
    /// it is any more and returns false: the worker reconnects.
    fn resync(&mut self) -> bool;

    /// Ends the connection politely before it is dropped (`--conn-lifetime`):
    /// a WebSocket sends its close frame. Plain sockets just close.
    fn close(&mut self) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// Where a connector's connections go: the one dialer of the run (its
/// options, its TLS settings) and the server, resolved once.
#[derive(Clone)]
pub struct Dial {
    pub dialer: Arc<Dialer>,
    pub target: Target,
}

/// TCP, with `TCP_NODELAY` like any latency-sensitive client.
pub struct Tcp(pub Dial);

impl Connector for Tcp {
    type Conn = TcpStream;

    async fn connect(&self) -> io::Result<TcpStream> {
        Ok(self.0.dialer.tcp(&self.0.target).await?)
    }
}

/// TLS over TCP (rustls): a byte stream like TCP once the handshake is done.
pub struct Tls(pub Dial);

impl Connector for Tls {
    type Conn = TlsStream<TcpStream>;

    async fn connect(&self) -> io::Result<TlsStream<TcpStream>> {
        Ok(self.0.dialer.tls(&self.0.target).await?)
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
    pub dial: Dial,
    pub path: PathBuf,
}

impl Connector for Unix {
    type Conn = UnixStream;

    async fn connect(&self) -> io::Result<UnixStream> {
        Ok(self.dial.dialer.unix(&self.dial.target, &self.path).await?)
    }
}

/// UDP: each bench "connection" is its own connected socket, so the kernel
/// filters out datagrams from anyone but the server and the server sees one
/// peer per connection.
pub struct Udp(pub Dial);

impl Connector for Udp {
    type Conn = UdpSocket;

    async fn connect(&self) -> io::Result<UdpSocket> {
        Ok(self.0.dialer.udp(&self.0.target).await?)
    }
}

impl Conn for UdpSocket {
    const FRAMING: Framing = Framing::Message;

    /// One datagram: `send`. A batch (`--pipeline`): `sendmmsg`, up to
    /// `MMSG_BATCH` datagrams per system call.
    async fn send(&mut self, data: &[u8], count: usize) -> io::Result<()> {
        if count <= 1 {
            return UdpSocket::send(self, data).await.map(drop);
        }
        let all: Vec<&[u8]> = messages(data, count).collect();
        let mut todo = all.as_slice();
        while !todo.is_empty() {
            self.writable().await?;
            match self.try_io(tokio::io::Interest::WRITABLE, || send_batch(self, todo)) {
                Ok(n) => todo = &todo[n.max(1).min(todo.len())..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    async fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        UdpSocket::recv(self, buf).await
    }

    /// tokio forgets a datagram socket's readiness only when a receive
    /// fails with `EAGAIN`, so after every reply the next round trip would
    /// start with a wasted `recvfrom`. The last reply awaited tells it the
    /// socket is drained (a stray datagram still wakes the socket when the
    /// next one arrives: epoll reports every arrival).
    async fn recv_last(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use rustix::net::{RecvFlags, recv};
        loop {
            self.readable().await?;
            let mut got = None;
            let r = self.try_io(tokio::io::Interest::READABLE, || {
                let (n, _) = recv(&*self, &mut *buf, RecvFlags::empty())?;
                got = Some(n);
                Err::<(), _>(io::ErrorKind::WouldBlock.into())
            });
            if let Some(n) = got {
                return Ok(n);
            }
            match r {
                Err(e) if e.kind() != io::ErrorKind::WouldBlock => return Err(e),
                _ => {}
            }
        }
    }

    fn resync(&mut self) -> bool {
        let mut scratch = [0u8; 2048];
        while self.try_recv(&mut scratch).is_ok() {}
        true
    }
}

/// Datagrams per `sendmmsg` call.
const MMSG_BATCH: usize = 64;

/// Sends the first (up to [`MMSG_BATCH`]) datagrams of `msgs` on a
/// connected socket in one system call; how many went out.
fn send_batch(socket: &UdpSocket, msgs: &[&[u8]]) -> io::Result<usize> {
    use rustix::net::{MMsgHdr, SendAncillaryBuffer, SendFlags, sendmmsg};
    let n = msgs.len().min(MMSG_BATCH);
    let iovs: Vec<[io::IoSlice<'_>; 1]> = msgs[..n].iter().map(|m| [io::IoSlice::new(m)]).collect();
    let mut controls: Vec<SendAncillaryBuffer<'_, '_, '_>> =
        (0..n).map(|_| SendAncillaryBuffer::default()).collect();
    let mut hdrs: Vec<MMsgHdr<'_>> = iovs
        .iter()
        .zip(controls.iter_mut())
        .map(|(iov, control)| MMsgHdr::new(iov, control))
        .collect();
    sendmmsg(socket, &mut hdrs, SendFlags::empty()).map_err(io::Error::from)
}

/// The `count` equal messages laid out back to back in `data` (empty ones
/// too, which `chunks` cannot express).
fn messages(data: &[u8], count: usize) -> impl Iterator<Item = &[u8]> {
    let size = data.len() / count.max(1);
    (0..count).map(move |i| &data[i * size..(i + 1) * size])
}
