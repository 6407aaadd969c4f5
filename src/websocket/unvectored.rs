//! A stream that tells its writer to send one buffer at a time.
//!
//! The crate's framing layer (tokio-util's `Framed`) writes its write
//! buffer with `writev` whenever the transport says vectored writes are
//! efficient, as a TCP stream does. That buffer is one contiguous slice, so
//! the vector always has one element, and the kernel's `writev` path costs
//! more than `send` for it: at 64-byte echo, `perf` put the difference
//! (`vfs_writev`, `fdget_pos`, `copy_iovec_from_user`, `sock_write_iter`)
//! at about 2% of the server's CPU per message. A writer that really has
//! several slices (a large payload written from its own memory behind its
//! header) still gets a vectored write.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// `io`, saying that vectored writes are not worth it; everything else is
/// passed through.
pub struct Unvectored<S>(pub S);

impl<S: AsyncRead + Unpin> AsyncRead for Unvectored<S> {
    #[inline]
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Unvectored<S> {
    #[inline]
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, data)
    }

    #[inline]
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        false
    }

    #[inline]
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    #[inline]
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}
