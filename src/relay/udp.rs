//! UDP as message peers: one datagram is one message.
//!
//! * [`Dialled`]: an upstream, over a socket connected to it (datagrams
//!   from anyone else are filtered out, and an ICMP "port unreachable"
//!   becomes an error the relay reports).
//! * [`Accepted`]: one client of a UDP listener. The listener's task
//!   receives every datagram and hands each client's to its session
//!   through an [`Inbox`]; replies go out through the listener's socket to
//!   the client's address.
//!
//! Both are one [`UdpPeer`], which keeps the datagram not yet sent, over
//! the two ways datagrams come and go ([`DatagramEnds`]).
//!
//! UDP cannot hold a sender back, so where a session cannot keep up its
//! datagrams are dropped, as the kernel drops them when a socket's buffer
//! is full: an inbox holds at most one buffer's worth (`--buffer-size`).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use tokio::io::ReadBuf;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use super::scratch::with_scratch;
use super::side::{Message, MessagePeer};

/// The largest UDP payload over IPv4.
pub const MAX_PAYLOAD: usize = 65_507;

/// Datagrams waiting in an inbox, at most.
const INBOX_DATAGRAMS: usize = 64;

/// A UDP message peer: a datagram received is a message, a message given
/// is sent as one datagram. A dialled upstream and a listener's client
/// differ only in where datagrams come from and go to (`D`); the datagram
/// given and not yet taken by the socket is kept here, once for both.
pub struct UdpPeer<D> {
    ends: D,
    /// A datagram to send, kept until the socket takes it.
    out: Option<Bytes>,
}

/// Where a UDP peer's datagrams come from and go to.
pub trait DatagramEnds: Send + Unpin {
    /// The next datagram; `Ready(Ok(None))` when no more will come.
    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<Bytes>>>;
    /// Sends one datagram, whole.
    fn poll_send(&mut self, cx: &mut Context<'_>, datagram: &[u8]) -> Poll<io::Result<()>>;
}

impl<D: DatagramEnds> UdpPeer<D> {
    fn poll_send_out(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(data) = &self.out {
            ready!(self.ends.poll_send(cx, data))?;
            self.out = None;
        }
        Poll::Ready(Ok(()))
    }
}

impl<D: DatagramEnds> MessagePeer for UdpPeer<D> {
    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<Message>>> {
        Poll::Ready(Ok(ready!(self.ends.poll_recv(cx))?.map(Message::Binary)))
    }

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_send_out(cx)
    }

    fn start_send(&mut self, message: Message) -> io::Result<()> {
        self.out = payload(message);
        Ok(())
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_send_out(cx)
    }

    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_send_out(cx)
    }

    fn max_message(&self) -> usize {
        MAX_PAYLOAD
    }

    fn ends(&self) -> bool {
        false
    }
}

/// The payload of a message for a datagram (a close has none and sends
/// nothing).
fn payload(message: Message) -> Option<Bytes> {
    match message {
        Message::Text(b) | Message::Binary(b) => Some(b),
        Message::Close(_) => None,
    }
}

/// An upstream reached over UDP.
pub type Dialled = UdpPeer<Connected>;

/// A socket connected to the upstream.
pub struct Connected(UdpSocket);

impl Dialled {
    /// `socket` must be connected to the upstream.
    pub fn new(socket: UdpSocket) -> Dialled {
        UdpPeer {
            ends: Connected(socket),
            out: None,
        }
    }
}

impl DatagramEnds for Connected {
    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<Bytes>>> {
        with_scratch(0, |scratch| {
            let mut buf = ReadBuf::new(scratch);
            ready!(self.0.poll_recv(cx, &mut buf))?;
            Poll::Ready(Ok(Some(Bytes::copy_from_slice(buf.filled()))))
        })
    }

    fn poll_send(&mut self, cx: &mut Context<'_>, datagram: &[u8]) -> Poll<io::Result<()>> {
        ready!(self.0.poll_send(cx, datagram))?;
        Poll::Ready(Ok(()))
    }
}

/// Where a UDP listener puts the datagrams of one client, for its session.
pub struct Inbox {
    tx: mpsc::Sender<Bytes>,
    queued: Arc<AtomicUsize>,
    budget: usize,
}

/// What became of a datagram offered to an inbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    Queued,
    /// The session is behind by a buffer's worth: dropped.
    Full,
    /// The session has ended.
    Gone,
}

impl Inbox {
    /// Hands `datagram` to the session unless it is a buffer's worth
    /// behind (a datagram always fits an empty inbox).
    pub fn offer(&self, datagram: &[u8]) -> Offer {
        if self.tx.is_closed() {
            return Offer::Gone;
        }
        let queued = self.queued.load(Ordering::Relaxed);
        if queued > 0 && queued + datagram.len() > self.budget {
            return Offer::Full;
        }
        match self.tx.try_send(Bytes::copy_from_slice(datagram)) {
            Ok(()) => {
                self.queued.fetch_add(datagram.len(), Ordering::Relaxed);
                Offer::Queued
            }
            Err(mpsc::error::TrySendError::Full(_)) => Offer::Full,
            Err(mpsc::error::TrySendError::Closed(_)) => Offer::Gone,
        }
    }

    /// The session has ended (its [`Accepted`] is dropped).
    pub fn is_gone(&self) -> bool {
        self.tx.is_closed()
    }
}

/// A client of a UDP listener, as its session sees it.
pub type Accepted = UdpPeer<Client>;

/// One client's inbox, and the listener's socket to answer it through.
pub struct Client {
    rx: mpsc::Receiver<Bytes>,
    queued: Arc<AtomicUsize>,
    socket: Arc<UdpSocket>,
    client: SocketAddr,
}

impl Accepted {
    /// A client at `client` of the listener's `socket`, and the inbox the
    /// listener hands its datagrams to (holding at most `budget` bytes).
    pub fn new(socket: Arc<UdpSocket>, client: SocketAddr, budget: usize) -> (Accepted, Inbox) {
        let (tx, rx) = mpsc::channel(INBOX_DATAGRAMS);
        let queued = Arc::new(AtomicUsize::new(0));
        let inbox = Inbox {
            tx,
            queued: queued.clone(),
            budget,
        };
        let ends = Client {
            rx,
            queued,
            socket,
            client,
        };
        (UdpPeer { ends, out: None }, inbox)
    }
}

impl DatagramEnds for Client {
    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<Bytes>>> {
        let datagram = ready!(self.rx.poll_recv(cx));
        if let Some(d) = &datagram {
            self.queued.fetch_sub(d.len(), Ordering::Relaxed);
        }
        Poll::Ready(Ok(datagram))
    }

    fn poll_send(&mut self, cx: &mut Context<'_>, datagram: &[u8]) -> Poll<io::Result<()>> {
        ready!(self.socket.poll_send_to(cx, datagram, self.client))?;
        Poll::Ready(Ok(()))
    }
}
