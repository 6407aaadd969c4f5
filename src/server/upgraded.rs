//! The connection under a server-side WebSocket, once hyper hands it over.
//!
//! hyper returns the upgraded connection as `Upgraded`: the accepted
//! stream behind a trait object, with what hyper had read past the
//! handshake in front of it. Every read and write of the session then goes
//! through that object and hyper's I/O adapters (about 150 instructions
//! per echoed message, counted with callgrind). A plain TCP connection,
//! the common case, is taken back out of it (`Upgraded::downcast`), so
//! that the session reads and writes the socket itself; anything else
//! (TLS, Unix, a type hyper wrapped differently) stays as hyper gave it.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::websocket::Prefixed;

/// An upgraded connection: the TCP socket itself, or hyper's object.
pub enum ServerIo {
    Tcp(Prefixed<TcpStream>),
    Upgraded(TokioIo<Upgraded>),
}

impl ServerIo {
    pub fn new(upgraded: Upgraded) -> ServerIo {
        match upgraded.downcast::<TokioIo<TcpStream>>() {
            Ok(parts) => {
                // `read_buf` is a view of hyper's read buffer, and even an
                // empty view keeps all of it allocated: copied out (usually
                // nothing), the buffer is freed with hyper's connection.
                let ahead = Bytes::copy_from_slice(&parts.read_buf);
                ServerIo::Tcp(Prefixed::new(ahead, parts.io.into_inner()))
            }
            Err(upgraded) => ServerIo::Upgraded(TokioIo::new(upgraded)),
        }
    }
}

impl AsyncRead for ServerIo {
    #[inline]
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ServerIo::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            ServerIo::Upgraded(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for ServerIo {
    #[inline]
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ServerIo::Tcp(s) => Pin::new(s).poll_write(cx, data),
            ServerIo::Upgraded(s) => Pin::new(s).poll_write(cx, data),
        }
    }

    #[inline]
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ServerIo::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            ServerIo::Upgraded(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            ServerIo::Tcp(s) => s.is_write_vectored(),
            ServerIo::Upgraded(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ServerIo::Tcp(s) => Pin::new(s).poll_flush(cx),
            ServerIo::Upgraded(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ServerIo::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            ServerIo::Upgraded(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}
