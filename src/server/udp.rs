//! UDP: one task per socket; a datagram in, replies out to its sender.
//!
//! UDP has no sessions, so a line service runs one [`Session`] per socket for
//! every peer (its ordinal is taken when the listener starts). `STOP` is
//! answered like any other request.
//!
//! **Counting UDP clients.** A peer (source address and port) counts as one
//! client for `counter` the first time it is seen. Remembering every peer
//! forever would let anyone grow the server's memory by spoofing source
//! addresses, so peers are kept in two generations of at most
//! [`PEER_GENERATION`] entries each: when the current one fills up it becomes
//! the previous one and the oldest is forgotten. A peer that stays silent
//! long enough to be forgotten counts again when it returns. A peer that
//! could not be counted (a `--counter-store` did not answer) is not
//! remembered: it is answered by a session of its own kind (for `counter`,
//! `ERR counter store unavailable`) and counted by its first datagram once
//! the store answers.

use std::collections::HashSet;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::net::UdpSocket;

use super::interrupts::Interrupts;
use super::metrics::Transport;
use super::mounted::Mounted;
use super::shared::Shared;
use super::socket::{bind_error, listen_addrs, socket_for};
use crate::endpoint::{Endpoint, HostPort};
use crate::service::{Session, handle_request};

/// Peers remembered per generation (two generations are kept).
pub const PEER_GENERATION: usize = 4096;
/// The largest datagram UDP can carry.
const MAX_DATAGRAM: usize = 65_535;
/// At most this many queued datagrams are answered after shutdown, so that
/// a flood cannot hold the process.
const DRAIN_MAX: usize = 4096;

pub struct UdpListener {
    socket: UdpSocket,
}

impl UdpListener {
    pub fn local_port(&self) -> u16 {
        self.socket.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// The socket, for a bridge's own loop.
    pub fn into_socket(self) -> UdpSocket {
        self.socket
    }

    /// Serves a socket bound elsewhere.
    pub fn from_std(socket: std::net::UdpSocket) -> io::Result<UdpListener> {
        socket.set_nonblocking(true)?;
        Ok(UdpListener {
            socket: UdpSocket::from_std(socket)?,
        })
    }
}

/// Binds `hp` (with `SO_REUSEPORT` when `reuse_port`: see `reuse_port.rs`).
pub async fn bind(
    hp: &HostPort,
    endpoint: &Endpoint,
    reuse_port: bool,
) -> anyhow::Result<UdpListener> {
    let mut last = None;
    for addr in listen_addrs(hp, endpoint).await? {
        let r = (|| {
            let s = socket_for(&addr, socket2::Type::DGRAM, socket2::Protocol::UDP)?;
            if reuse_port {
                super::reuse_port::set(&s)?;
            }
            s.bind(&addr.into())?;
            UdpSocket::from_std(s.into())
        })();
        match r {
            Ok(socket) => return Ok(UdpListener { socket }),
            Err(e) => last = Some(e),
        }
    }
    let e = last.unwrap_or_else(|| io::Error::other("no address to listen on"));
    Err(bind_error(endpoint, Some(hp.port), e))
}

/// Bounded memory of recently seen peers.
#[derive(Default)]
pub struct Peers {
    current: HashSet<SocketAddr>,
    previous: HashSet<SocketAddr>,
}

impl Peers {
    /// Records `peer`; true if it was not remembered (a new client).
    pub fn see(&mut self, peer: SocketAddr) -> bool {
        if self.current.contains(&peer) {
            return false;
        }
        let known = self.previous.remove(&peer);
        if self.current.len() >= PEER_GENERATION {
            self.previous = std::mem::take(&mut self.current);
        }
        self.current.insert(peer);
        !known
    }

    /// Forgets `peer` (seen, but not counted).
    pub fn forget(&mut self, peer: SocketAddr) {
        self.current.remove(&peer);
    }

    /// Peers remembered now (for the test of the bound).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.current.len() + self.previous.len()
    }
}

/// Answers datagrams until shutdown.
pub async fn serve(
    listener: UdpListener,
    mounted: Arc<Mounted>,
    shared: Arc<Shared>,
    url: Arc<str>,
) {
    let socket = listener.socket;
    let mut session: Option<Box<dyn Session>> = mounted.open_session(true);
    // Answers the peers that could not be counted (see `Peers`); opened
    // the first time one needs it (never for echo, which has no session).
    let mut uncounted: Option<Box<dyn Session>> = None;
    let mut peers = Peers::default();
    let counters = mounted.counters.get(Transport::Udp);
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut reply = Vec::with_capacity(64);
    // Shutdown is watched without a cost per datagram (see `Interrupts`).
    let mut interrupts = Interrupts::new(None, shared.token.cancelled());
    // After shutdown, the datagrams already queued are answered before the
    // socket closes (with --reuse-port they were meant for this process).
    let mut drain = None;
    loop {
        let received = match drain.as_mut() {
            Some(left) => {
                if *left == 0 {
                    break;
                }
                *left -= 1;
                match socket.try_recv_from(&mut buf) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    r => r,
                }
            }
            None => match interrupts.until(socket.recv_from(&mut buf)).await {
                Err(_) => {
                    drain = Some(DRAIN_MAX);
                    continue;
                }
                Ok(r) => r,
            },
        };
        let (n, peer) = match received {
            Ok(x) => x,
            Err(e) => {
                // ICMP errors from earlier sends surface here; they concern
                // one peer, never the listener.
                tracing::debug!(listener = %url, error = %e, "udp receive error");
                continue;
            }
        };
        let mut counted = true;
        if peers.see(peer) {
            // With a --counter-store, one round trip per new peer.
            counted = shared.count_client().await;
            if counted {
                counters.accepted.fetch_add(1, Ordering::Relaxed);
            } else {
                peers.forget(peer);
            }
        }
        counters.request();
        counters.received(n);
        if !counted && uncounted.is_none() && session.is_some() {
            uncounted = mounted.open_session(false);
        }
        let session = if counted {
            &mut session
        } else {
            &mut uncounted
        };
        let Some(session) = session.as_mut() else {
            // Echo: the datagram back, unchanged.
            match socket.send_to(&buf[..n], peer).await {
                Ok(sent) => counters.sent(sent),
                Err(e) => tracing::debug!(listener = %url, %peer, error = %e, "udp send failed"),
            }
            continue;
        };
        let mut request = &buf[..n];
        if let Some(r) = request.strip_suffix(b"\n") {
            request = r.strip_suffix(b"\r").unwrap_or(r);
        }
        handle_request(session.as_mut(), request, false);
        loop {
            reply.clear();
            if !session.next_reply(&mut reply) {
                break;
            }
            reply.push(b'\n');
            counters.sent(reply.len());
            if let Err(e) = socket.send_to(&reply, peer).await {
                tracing::debug!(listener = %url, %peer, error = %e, "udp send failed");
                // Drop the rest of this answer rather than retry a dead peer.
                while session.next_reply(&mut reply) {
                    reply.clear();
                }
                break;
            }
        }
    }
    tracing::debug!(listener = %url, "udp listener stopped");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_are_counted_once_and_memory_is_bounded() {
        let mut p = Peers::default();
        let a: SocketAddr = "127.0.0.1:1".parse().expect("addr");
        assert!(p.see(a));
        assert!(!p.see(a));
        for port in 2..(3 * PEER_GENERATION as u16) {
            p.see(SocketAddr::from(([127, 0, 0, 1], port)));
        }
        assert!(p.len() <= 2 * PEER_GENERATION);
        // `a` was forgotten long ago: it counts again.
        assert!(p.see(a));
    }
}
