//! Connections from a load balancer that speaks the PROXY protocol
//! (`--proxy-protocol`): before anything else is read, the header that
//! names the real client, within `--proxy-timeout`, from a trusted source
//! only (`--trusted-proxy`; a Unix socket's peers are trusted, its file
//! permissions guard it). Anything else is closed, logged and counted.
//!
//! The header is peeked at rather than read: once it is whole, exactly its
//! bytes are consumed and the stream goes on as it came from the kernel, so
//! the client's first bytes (sent right behind the header) are the
//! service's, TLS and HTTP start as usual, and no wrapper stands in the
//! data path of the session. A header that arrives a byte at a time costs a
//! peek per arrival and nothing while nothing arrives.

use std::io;
use std::net::IpAddr;
use std::sync::atomic::Ordering;

use rustix::net::RecvFlags;
use tokio::io::{AsyncRead, AsyncReadExt, Interest};

use super::edge_metrics::ProxyRejection;
use super::peer::Peer;
use super::shared::Shared;
use crate::proxy_header::{self, Parsed, V1_MAX};

/// A connected socket whose received bytes can be looked at before they
/// are read.
pub trait Peek: AsyncRead + Unpin + Send {
    /// Waits until more than `seen` bytes have been received (or the peer
    /// has closed, or `buf` is full), then copies them into `buf` without
    /// consuming them. Returns how many there are.
    fn peek_more(
        &self,
        buf: &mut [u8],
        seen: usize,
    ) -> impl Future<Output = io::Result<usize>> + Send;
}

macro_rules! peek_socket {
    ($t:ty) => {
        impl Peek for $t {
            async fn peek_more(&self, buf: &mut [u8], seen: usize) -> io::Result<usize> {
                loop {
                    let ready = self.ready(Interest::READABLE).await?;
                    // Returning WouldBlock tells tokio nothing new has come:
                    // the next wait is for more bytes, not the same ones.
                    let peeked = self.try_io(Interest::READABLE, || {
                        let (n, _) = rustix::net::recv(self, &mut *buf, RecvFlags::PEEK)?;
                        if n > seen || n == buf.len() || ready.is_read_closed() {
                            Ok(n)
                        } else {
                            Err(io::ErrorKind::WouldBlock.into())
                        }
                    });
                    match peeked {
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                        r => return r,
                    }
                }
            }
        }
    };
}

peek_socket!(tokio::net::TcpStream);
peek_socket!(tokio::net::UnixStream);

/// Reads the PROXY header of an accepted connection. Returns the stream,
/// positioned at the client's first byte, and the client as the header
/// names it (the connection's own peer for a `LOCAL` header, as in health
/// checks); `None` when the connection was refused and closed.
pub async fn accept<S: Peek>(mut stream: S, peer: Peer, shared: &Shared) -> Option<(S, Peer)> {
    let refuse = |why: ProxyRejection, detail: &dyn std::fmt::Display| {
        shared.metrics.proxy_refused(why);
        tracing::warn!(%peer, reason = why.label(), "refused a connection: {detail} (--proxy-protocol)");
        None
    };
    if !trusted(&peer, &shared.limits.trusted_proxies) {
        return refuse(ProxyRejection::Untrusted, &"not a --trusted-proxy source");
    }
    let limits = &shared.limits;
    let read = tokio::time::timeout(
        limits.proxy_timeout,
        read_header(&mut stream, limits.proxy_max_header),
    );
    match read.await {
        Err(_) => refuse(
            ProxyRejection::Timeout,
            &format_args!("no PROXY header within {:?}", limits.proxy_timeout),
        ),
        Ok(Err(Refused(why, detail))) => refuse(why, &detail),
        Ok(Ok(client)) => {
            shared.metrics.proxy_headers.fetch_add(1, Ordering::Relaxed);
            Some((stream, client.map_or(peer, |c| peer.relaying(c))))
        }
    }
}

/// Why a header was refused, and the details for the log.
struct Refused(ProxyRejection, String);

/// Peeks until a whole header is there, then consumes exactly it.
async fn read_header<S: Peek>(
    stream: &mut S,
    max: usize,
) -> Result<Option<std::net::SocketAddr>, Refused> {
    let closed = |e: Option<io::Error>| {
        let detail = match e {
            Some(e) => format!("the connection failed before its PROXY header was whole: {e}"),
            None => "the connection closed before its PROXY header was whole".to_string(),
        };
        Refused(ProxyRejection::Truncated, detail)
    };
    // Room for any v1 header and the usual v2 ones; a longer v2 header
    // (TLVs) says its length first, and the buffer grows to it.
    let mut buf = vec![0u8; 2 * V1_MAX + 42];
    let mut seen = 0;
    loop {
        let n = stream
            .peek_more(&mut buf, seen)
            .await
            .map_err(|e| closed(Some(e)))?;
        match proxy_header::parse(&buf[..n], max) {
            Parsed::Header { len, client } => {
                stream
                    .read_exact(&mut buf[..len])
                    .await
                    .map_err(|e| closed(Some(e)))?;
                return Ok(client);
            }
            Parsed::Incomplete { len } => {
                if n == seen {
                    return Err(closed(None));
                }
                if let Some(len) = len
                    && len > buf.len()
                {
                    buf.resize(len, 0);
                }
                seen = n;
            }
            Parsed::Invalid(why) => return Err(Refused(ProxyRejection::Invalid, why)),
            Parsed::TooLarge(len) => {
                return Err(Refused(
                    ProxyRejection::TooLarge,
                    format!(
                        "a PROXY header of {len} bytes is over the limit of {max} (--proxy-max-header)"
                    ),
                ));
            }
        }
    }
}

/// A header is believed only from a `--trusted-proxy` address, or over a
/// Unix socket.
fn trusted(peer: &Peer, trusted: &[ipnet::IpNet]) -> bool {
    match peer {
        Peer::Ip(a) => {
            // A dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d.
            let ip: IpAddr = a.ip().to_canonical();
            trusted.iter().any(|net| net.contains(&ip))
        }
        Peer::Unix { .. } | Peer::Unknown => true,
        // Never reached: a header is read once, before anything names the
        // client; a client is not a proxy.
        Peer::Proxied { .. } => false,
    }
}
