//! A stream that yields some bytes before its own: what the HTTP client
//! read past the end of a `101 Switching Protocols` response (a server may
//! send its first message right behind it, as `daytime` does) comes first.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// `io`, read after `prefix`. Writes go straight to `io`.
pub struct Prefixed<S> {
    prefix: Bytes,
    io: S,
}

impl<S> Prefixed<S> {
    pub fn new(prefix: Bytes, io: S) -> Prefixed<S> {
        let mut prefixed = Prefixed { prefix, io };
        prefixed.let_go_if_empty();
        prefixed
    }

    /// An empty view would still hold the buffer it came from (for the
    /// server, hyper's whole read buffer), for as long as the connection
    /// lives.
    fn let_go_if_empty(&mut self) {
        if self.prefix.is_empty() {
            self.prefix = Bytes::new();
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.remaining());
            buf.put_slice(&self.prefix[..n]);
            self.prefix.advance(n);
            self.let_go_if_empty();
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, data)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// An idle connection must not keep the buffer its prefix came from
    /// (for the server, hyper's whole read buffer).
    #[tokio::test]
    async fn a_consumed_prefix_lets_go_of_its_buffer() {
        let buffer = Bytes::from(b"handshake...ahead".to_vec());
        let ahead = buffer.slice(12..);
        let (a, _b) = tokio::io::duplex(64);
        let mut p = Prefixed::new(ahead, a);
        assert!(!buffer.is_unique(), "the prefix shares the buffer");
        let mut got = [0u8; 5];
        p.read_exact(&mut got).await.expect("read the prefix");
        assert_eq!(&got, b"ahead");
        assert!(
            buffer.is_unique(),
            "the consumed prefix still holds the buffer"
        );
        let _empty = Prefixed::new(buffer.slice(3..3), tokio::io::empty());
        assert!(buffer.is_unique(), "an empty prefix holds the buffer");
    }

    #[tokio::test]
    async fn the_prefix_comes_first_then_the_stream() {
        let (a, mut b) = tokio::io::duplex(64);
        let mut p = Prefixed::new(Bytes::from_static(b"hello "), a);
        b.write_all(b"world").await.expect("write");
        drop(b);
        let mut got = Vec::new();
        p.read_to_end(&mut got).await.expect("read");
        assert_eq!(got, b"hello world");
    }
}
