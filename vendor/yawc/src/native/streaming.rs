//! Low-level streaming WebSocket layer for manual fragment control.
//!
//! This module provides the [`Streaming`] type, which gives users direct control over
//! WebSocket frame fragmentation without automatic reassembly or fragmentation.
//!
//! # When to Use Streaming
//!
//! Use `Streaming` when you need:
//! - **Manual fragment control**: Send and receive individual fragments without automatic reassembly
//! - **Memory-efficient streaming**: Process large messages incrementally without buffering
//! - **Custom fragmentation logic**: Implement application-specific fragmentation strategies
//! - **Real-time processing**: Handle fragments as they arrive for low-latency applications
//!
//! # Comparison with WebSocket
//!
//! | Feature | `WebSocket` | `Streaming` |
//! |---------|------------|------------|
//! | Fragment reassembly | Automatic | Manual |
//! | Auto-fragmentation | Optional | Manual |
//! | Compression | Yes | Yes |
//! | Memory usage | Higher | Lower |
//! | Control | Limited | Full |
//!
//! # Example
//!
//! ```rust,no_run
//! use yawc::{WebSocket, Frame, OpCode};
//! use futures::SinkExt;
//!
//! # async fn example() -> yawc::Result<()> {
//! // Convert WebSocket to Streaming for manual fragment control
//! let ws = WebSocket::connect("ws://example.com".parse()?).await?;
//! let mut streaming = ws.into_streaming();
//!
//! // Send a message as multiple fragments manually
//! streaming.send(Frame::text("Hello").with_fin(false)).await?;
//! streaming.send(Frame::continuation(" ").with_fin(false)).await?;
//! streaming.send(Frame::continuation("World!")).await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Safety
//!
//! When using `Streaming`, you are responsible for:
//! - **Fragment ordering**: Continuation frames must follow a non-FIN data frame
//! - **OpCode rules**: Only the first fragment carries the message opcode
//! - **Control frames**: Cannot be fragmented and can be sent between data fragments
//! - **Compression**: RSV1 bit is managed automatically based on compression state

use std::{
    collections::VecDeque,
    future::poll_fn,
    io::IoSlice,
    pin::Pin,
    sync::Arc,
    task::{ready, Context, Poll},
};

use crate::{close::CloseCode, codec, Negotiation, OpCode, Result, Role};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::{Framed, FramedParts};

/// The buffer size tokio-util starts `Framed` with, used when none is configured.
const DEFAULT_BUFFER_CAPACITY: usize = 8 * 1024;

/// duplex patch: unmasked data payloads at least this long are not copied
/// into the write buffer; they are written from their own memory, after the
/// buffer, in one vectored write.
const DIRECT_WRITE_MIN: usize = 4096;

/// duplex patch: the largest frame, header included, that
/// `Streaming::poll_send_small` writes from a buffer on its stack.
const SMALL_SEND_MAX: usize = 1024;

use crate::{
    codec::Codec,
    compression::{Compressor, Decompressor},
    native::{ContextKind, WakeProxy},
    Frame, ReadHalf, WebSocketError, WriteHalf,
};

/// Low-level streaming WebSocket connection with manual fragment control.
///
/// `Streaming` provides direct access to WebSocket frames without automatic
/// fragmentation or reassembly. This allows for:
/// - Streaming large files directly from/to disk without loading them in memory
/// - Implementing custom fragmentation strategies
/// - Processing data incrementally as fragments arrive
/// - Fine-grained control over frame boundaries
///
/// # Conversion
///
/// You can convert a [`WebSocket`](super::WebSocket) into a [`Streaming`] connection:
///
/// ```rust,no_run
/// # use yawc::WebSocket;
/// # async fn example() -> yawc::Result<()> {
/// let ws = WebSocket::connect("ws://example.com".parse()?).await?;
/// let streaming = ws.into_streaming();
/// # Ok(())
/// # }
/// ```
///
/// # Fragmentation Protocol
///
/// When manually fragmenting messages:
/// 1. Send first fragment with desired OpCode (Text/Binary) and `FIN=false`
/// 2. Send continuation fragments with OpCode::Continuation and `FIN=false`
/// 3. Send final fragment with OpCode::Continuation and `FIN=true`
///
/// # Example: Streaming File Upload
///
/// ```rust,no_run
/// use yawc::{WebSocket, Frame, OpCode};
/// use futures::SinkExt;
/// use std::io::Read;
///
/// # async fn upload_file() -> yawc::Result<()> {
/// let ws = WebSocket::connect("ws://example.com/upload".parse()?).await?;
/// let mut streaming = ws.into_streaming();
///
/// let mut file = std::fs::File::open("large_file.bin")?;
/// let mut buffer = vec![0u8; 64 * 1024]; // 64 KiB chunks
/// let mut first = true;
///
/// loop {
///     let bytes_read = file.read(&mut buffer)?;
///     if bytes_read == 0 {
///         break;
///     }
///
///     let chunk = buffer[..bytes_read].to_vec();
///     let frame = if first {
///         first = false;
///         Frame::binary(chunk).with_fin(false)
///     } else {
///         Frame::continuation(chunk).with_fin(false)
///     };
///
///     streaming.send(frame).await?;
/// }
///
/// // Send final empty fragment to close the message
/// streaming.send(Frame::continuation(vec![])).await?;
/// # Ok(())
/// # }
/// ```
///
/// # Compression Behavior
///
/// Unlike [`WebSocket`](super::WebSocket) which compresses complete messages,
/// `Streaming` performs **streaming compression**:
/// - Compression state is maintained across fragments
/// - RSV1 bit is automatically managed (set only on first fragment)
/// - Decompression happens per-fragment with context preservation
///
/// This allows compressed data to be processed incrementally without waiting
/// for the complete message.
pub struct Streaming<S> {
    stream: Framed<S, Codec>,
    // Reading state
    read_half: ReadHalf,
    // Writing state
    write_half: WriteHalf,
    // waker proxy
    wake_proxy: Arc<WakeProxy>,
    // frames we must send (control..)
    obligated_sends: VecDeque<Frame>,
    // flag to indicate the writer to flush sends
    flush_sends: bool,
    // compressor
    deflate: Option<Compressor>,
    // decompressor
    inflate: Option<Decompressor>,
    max_payload_read: usize,
    // messages sent as one frame below this size are not compressed
    compression_threshold: usize,
    // size the read buffer returns to after a larger frame
    read_buffer_capacity: usize,
    // size the write buffer returns to after it grew past the backpressure boundary
    write_buffer_capacity: usize,
    // the write buffer grew past its usual size and is replaced once flushed
    write_buffer_grown: bool,
    // duplex patch: whether frames go out unmasked (server), so that large
    // payloads can be written without a copy
    direct_writes: bool,
    // duplex patch: reads wait with the caller's waker registered on the
    // stream itself, not through the wake proxy (see `set_direct_reads`)
    direct_reads: bool,
    // duplex patch: the payload of the last frame sent, when it is written
    // from its own memory; its header is the last thing in the write buffer
    direct: Bytes,
}

impl<S> Streaming<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    pub(crate) fn new(role: Role, stream: S, read_buf: Bytes, negotiated: &Negotiation) -> Self {
        let decoder = codec::Decoder::new(role, negotiated.max_payload_read);
        let encoder = codec::Encoder::new(role);
        let codec = Codec::from((decoder, encoder));

        let mut parts = FramedParts::new(stream, codec);
        parts.read_buf = read_buf.into();

        // `from_parts` marks leftover handshake bytes as readable, which
        // `Framed::with_capacity` cannot, but it also raises both buffers to 8 KiB.
        // Swap in buffers of the configured size afterwards.
        let mut framed = Framed::from_parts(parts);
        if let Some(capacity) = negotiated.read_buffer_capacity {
            set_capacity(framed.read_buffer_mut(), capacity);
        }
        if let Some(capacity) = negotiated.write_buffer_capacity {
            set_capacity(framed.write_buffer_mut(), capacity);
        }
        if let Some(boundary) = negotiated.max_backpressure_write_boundary {
            framed.set_backpressure_boundary(boundary);
        }

        Self {
            stream: framed,
            read_half: ReadHalf::new(),
            write_half: WriteHalf::new(),
            wake_proxy: Arc::new(WakeProxy::default()),
            obligated_sends: VecDeque::new(),
            flush_sends: false,
            deflate: negotiated.compressor(),
            inflate: negotiated.decompressor(),
            max_payload_read: negotiated.max_payload_read,
            compression_threshold: negotiated.compression_threshold,
            read_buffer_capacity: negotiated
                .read_buffer_capacity
                .unwrap_or(DEFAULT_BUFFER_CAPACITY),
            write_buffer_capacity: negotiated
                .write_buffer_capacity
                .unwrap_or(DEFAULT_BUFFER_CAPACITY),
            write_buffer_grown: false,
            direct_writes: role == Role::Server,
            direct_reads: false,
            direct: Bytes::new(),
        }
    }

    /// Asynchronously retrieves the next frame from the WebSocket stream.
    pub async fn next_frame(&mut self) -> Result<Frame> {
        poll_fn(|cx| self.poll_next_frame(cx)).await
    }

    /// Splits the `Streaming` connection into its low-level components for advanced usage.
    ///
    /// This method provides access to the underlying framed stream and read/write halves,
    /// allowing for direct manipulation of the WebSocket protocol layer.
    ///
    /// # Safety
    ///
    /// This function is unsafe because it splits ownership of shared state. The caller
    /// must ensure that:
    /// - Only one component performs reads at a time
    /// - Only one component performs writes at a time
    /// - Protocol invariants are maintained (control frames, fragment ordering, etc.)
    ///
    /// # Example
    ///
    /// See [`examples/streaming.rs`](https://github.com/infinitefield/yawc/blob/master/examples/streaming.rs)
    /// for a complete example of using `split_stream()` for low-level frame processing.
    pub unsafe fn split_stream(self) -> (Framed<S, Codec>, ReadHalf, WriteHalf) {
        (self.stream, self.read_half, self.write_half)
    }

    /// Polls for the next frame in the WebSocket stream.
    ///
    /// This method returns individual frames without reassembling fragments. Applications
    /// using this method must handle fragmentation manually by checking the `FIN` flag
    /// and `OpCode` of each frame.
    ///
    /// # Returns
    ///
    /// - `Poll::Ready(Ok(frame))` - A complete frame is available
    /// - `Poll::Ready(Err(e))` - A protocol error occurred
    /// - `Poll::Pending` - No frame is available yet
    ///
    /// # Fragment Handling
    ///
    /// Frames may arrive as:
    /// - Complete messages: `OpCode::{Text,Binary}` with `FIN=true`
    /// - First fragment: `OpCode::{Text,Binary}` with `FIN=false`
    /// - Middle fragments: `OpCode::Continuation` with `FIN=false`
    /// - Final fragment: `OpCode::Continuation` with `FIN=true`
    pub fn poll_next_frame(&mut self, cx: &mut Context<'_>) -> Poll<Result<Frame>> {
        self.poll_next_frame_with_limit(cx, self.max_payload_read)
    }

    /// duplex patch: lets reads wait with the caller's waker registered on
    /// the stream itself instead of through the wake proxy. The proxy is
    /// there so that a read which has to write (or a write which has to
    /// read) on the stream cannot take the other direction's waker slot
    /// from a task polling that direction. A stream whose reads wait for
    /// read readiness alone, a plain TCP or Unix socket, never does that;
    /// a TLS stream does (it may send an alert or a key update while it
    /// reads). Writes, and the sends a read owes (pongs, the close reply),
    /// still go through the proxy.
    pub(crate) fn set_direct_reads(&mut self, on: bool) {
        self.direct_reads = on;
    }

    pub(crate) fn poll_next_frame_with_limit(
        &mut self,
        cx: &mut Context<'_>,
        max_read_buffer: usize,
    ) -> Poll<Result<Frame>> {
        let empty = self.stream.read_buffer().is_empty();
        if empty {
            // duplex patch: an empty read buffer whose room has shrunk (each
            // frame split off its front takes room with it) gets its resting
            // capacity back before the read. Reserving in an empty buffer
            // whose frames have all been dropped reuses its memory without
            // copying. Without this, every read after the room fell below
            // one frame filled the buffer exactly, and an exactly full read
            // costs one more `recv` (tokio clears readiness only after a
            // read that leaves room): 0.07 extra `recv` per 64-byte message
            // with a 1 KiB buffer.
            let capacity = self.read_buffer_capacity;
            let buffer = self.stream.read_buffer_mut();
            if buffer.capacity() < capacity / 2 {
                buffer.reserve(capacity);
            }
        }
        // duplex patch: with direct reads the socket's read interest holds
        // the caller's waker itself. Through the proxy, each read stored
        // the caller's waker in it, and each wakeup took it back out: about
        // 140 instructions per 64-byte message.
        let res = if self.direct_reads {
            self.read_half.poll_frame(&mut self.stream, cx)
        } else if empty {
            self.wake_proxy.set_waker(ContextKind::Read, cx.waker());
            self.wake_proxy
                .with_context(|cx| self.read_half.poll_frame(&mut self.stream, cx))
        } else {
            self.wake_proxy
                .poll_with_context(ContextKind::Read, cx, |cx| {
                    self.read_half.poll_frame(&mut self.stream, cx)
                })
        };
        let res = res.map(|res| {
            res.and_then(|frame| {
                self.release_read_buffer(frame.payload.len());
                self.on_frame(frame, max_read_buffer)
            })
        });
        match res {
            Poll::Ready(Ok(frame)) => Poll::Ready(Ok(frame)),
            Poll::Ready(Err(WebSocketError::ConnectionClosed)) => {
                ready!(self.poll_flush_obligated(ContextKind::Read, cx))?;
                Poll::Ready(Err(WebSocketError::ConnectionClosed))
            }
            Poll::Ready(Err(err)) => {
                let code = match err {
                    WebSocketError::FrameTooLarge => CloseCode::Size,
                    WebSocketError::InvalidUTF8 => CloseCode::Invalid,
                    WebSocketError::InvalidOpCode(_) => CloseCode::Unsupported,
                    WebSocketError::ReservedBitsNotZero
                    | WebSocketError::ControlFrameFragmented
                    | WebSocketError::PingFrameTooLarge
                    | WebSocketError::InvalidFragment
                    | WebSocketError::InvalidCloseFrame
                    | WebSocketError::InvalidCloseCode
                    | WebSocketError::FragmentTimeout
                    | WebSocketError::InvalidContinuationFrame
                    | WebSocketError::CompressionNotSupported => CloseCode::Protocol,
                    _ => CloseCode::Error,
                };
                self.emit_close(Frame::close(code, err.to_string()));
                Poll::Ready(Err(err))
            }
            Poll::Pending => {
                ready!(self.poll_flush_obligated(ContextKind::Read, cx))?;
                Poll::Pending
            }
        }
    }

    /// Gives back the memory a frame larger than the read buffer made it grow to.
    ///
    /// The frame's payload shares the buffer's allocation, so the buffer keeps all of
    /// it until replaced. Bytes of the next frame already read are kept, unless there
    /// are more than fit, in which case the next frame shrinks it instead.
    fn release_read_buffer(&mut self, frame_len: usize) {
        let capacity = self.read_buffer_capacity;
        let buffer = self.stream.read_buffer_mut();
        if frame_len > capacity && buffer.len() <= capacity {
            set_capacity(buffer, capacity);
        }
    }

    /// Gives back the memory the write buffer grew to, once it has been written out.
    /// duplex patch: whether `frame` may go out through `poll_send_small`:
    /// a whole message or control frame (not a close) that fits its stack
    /// buffer and needs no compression, with nothing queued or half sent
    /// ahead of it. Anything else takes the sink, which handles every case.
    pub(crate) fn can_send_small(&self, frame: &Frame) -> bool {
        let len = frame.payload.len();
        len <= SMALL_SEND_MAX - crate::frame::MAX_HEAD_SIZE
            && frame.is_fin()
            && frame.opcode != OpCode::Continuation
            && frame.opcode != OpCode::Close
            && (frame.opcode.is_control()
                || self.deflate.is_none()
                || len < self.compression_threshold)
            && self.obligated_sends.is_empty()
            && !self.flush_sends
            && self.direct.is_empty()
            && self.stream.write_buffer().is_empty()
            && self.write_half.is_idle()
    }

    /// duplex patch: sends a frame that `can_send_small` accepted and
    /// flushes it, as the sink's `send` would, but without its layers
    /// (`Feed`, `poll_ready`, the codec, `Framed`'s buffer): the frame is
    /// built on the stack and written with one `poll_write`. Whatever the
    /// transport does not take at once goes into the write buffer, and the
    /// sink's flush finishes it, so a slow peer is handled exactly as
    /// before. `frame` is taken on the first poll; later polls flush.
    ///
    /// At 64-byte echo this took about 300 of the 2,900 user-space
    /// instructions per message (`vendor/yawc/PATCHES.md`, 7).
    pub(crate) fn poll_send_small(
        &mut self,
        frame: &mut Option<Frame>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<()>> {
        let Some(mut frame) = frame.take() else {
            return futures::SinkExt::poll_flush_unpin(self, cx);
        };
        debug_assert!(self.can_send_small(&frame));
        if !self.direct_writes {
            // A client masks every frame, as the codec would.
            frame.set_random_mask_if_not_set();
        }
        let mut head = [0u8; crate::frame::MAX_HEAD_SIZE];
        let mut rest = &mut head[..];
        frame.write_head(&mut rest);
        let head_len = crate::frame::MAX_HEAD_SIZE - rest.len();
        let len = head_len + frame.payload.len();
        let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); SMALL_SEND_MAX];
        let (to_head, to_payload) = buf[..len].split_at_mut(head_len);
        // SAFETY: `head` holds `head_len` bytes and `to_head` has room for
        // exactly those; the two cannot overlap (one is a local array).
        unsafe {
            std::ptr::copy_nonoverlapping(head.as_ptr(), to_head.as_mut_ptr().cast(), head_len)
        };
        match frame.mask {
            Some(mask) => crate::mask::copy_mask(&frame.payload, to_payload, mask),
            // SAFETY: `to_payload` is exactly as long as the payload, and
            // the payload's memory is not this local buffer.
            None => unsafe {
                std::ptr::copy_nonoverlapping(
                    frame.payload.as_ptr(),
                    to_payload.as_mut_ptr().cast(),
                    to_payload.len(),
                )
            },
        }
        // SAFETY: the first `len` bytes were written just above (header,
        // then every payload byte), and `MaybeUninit<u8>` has `u8`'s layout.
        let bytes = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), len) };
        let stream = &mut self.stream;
        let written = self
            .wake_proxy
            .poll_with_context(ContextKind::Write, cx, |cx| {
                Pin::new(stream.get_mut()).poll_write(cx, bytes)
            });
        let taken = match written {
            Poll::Ready(Ok(n)) if n == len => {
                let stream = &mut self.stream;
                return self
                    .wake_proxy
                    .poll_with_context(ContextKind::Write, cx, |cx| {
                        Pin::new(stream.get_mut()).poll_flush(cx)
                    })
                    .map_err(Into::into);
            }
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e.into())),
            Poll::Ready(Ok(n)) => n.min(len),
            // Not taken at all; the caller's waker is already registered.
            Poll::Pending => 0,
        };
        // What the transport did not take: the sink's flush writes it.
        self.stream
            .write_buffer_mut()
            .extend_from_slice(&bytes[taken..]);
        futures::SinkExt::poll_flush_unpin(self, cx)
    }

    fn release_write_buffer(&mut self) {
        if self.write_buffer_grown && self.stream.write_buffer().is_empty() {
            set_capacity(self.stream.write_buffer_mut(), self.write_buffer_capacity);
            self.write_buffer_grown = false;
        }
    }

    fn on_frame(&mut self, mut frame: Frame, max_read_buffer: usize) -> Result<Frame> {
        #[cfg(test)]
        println!(
            "<<Compression<< OpCode={:?} Fin={} Payload={}",
            frame.opcode,
            frame.fin,
            frame.payload.len()
        );

        // Handle protocol control frames first
        match frame.opcode {
            OpCode::Ping => {
                self.on_ping(&frame);
                return Ok(frame);
            }
            OpCode::Close => {
                self.on_close(&frame)?;
                return Ok(frame);
            }
            OpCode::Pong => return Ok(frame),
            _ => {}
        }

        let max_output_size = if !frame.is_fin() || frame.opcode == OpCode::Continuation {
            self.max_payload_read.min(max_read_buffer)
        } else {
            self.max_payload_read
        };

        if frame.is_compressed {
            let inflate = self
                .inflate
                .as_mut()
                .ok_or(WebSocketError::CompressionNotSupported)?;
            frame.payload = inflate.decompress(&frame.payload, frame.is_fin(), max_output_size)?;
            frame.is_compressed = false;
        }

        if frame.payload.len() >= max_output_size {
            return Err(WebSocketError::FrameTooLarge);
        }

        Ok(frame)
    }

    fn on_ping(&mut self, frame: &Frame) {
        self.obligated_sends
            .push_back(Frame::pong(frame.payload.clone()));
    }

    fn on_close(&mut self, frame: &Frame) -> Result<()> {
        match frame.payload.len() {
            0 => {}
            1 => return Err(WebSocketError::InvalidCloseFrame),
            _ => {
                let code = frame.close_code().expect("close code");
                let _ = frame.close_reason()?;

                if !code.is_allowed() {
                    return Err(WebSocketError::InvalidCloseCode);
                }
            }
        }

        let frame = Frame::close_raw(frame.payload.clone());
        self.emit_close(frame);

        Ok(())
    }

    fn emit_close(&mut self, frame: Frame) {
        self.obligated_sends.push_back(frame);
        self.read_half.is_closed = true;
    }

    fn poll_flush_obligated(
        &mut self,
        kind: ContextKind,
        cx: &mut Context<'_>,
    ) -> Poll<Result<()>> {
        if self.obligated_sends.is_empty() && !self.flush_sends {
            return Poll::Ready(Ok(()));
        }
        self.wake_proxy.poll_with_context(kind, cx, |cx| {
            // A frame already sent goes out before any control frame.
            ready!(poll_write_direct(&mut self.stream, &mut self.direct, cx))?;
            while !self.obligated_sends.is_empty() {
                ready!(self.write_half.poll_ready(&mut self.stream, cx))?;

                let next = self.obligated_sends.pop_front().expect("obligated send");
                self.write_half.start_send(&mut self.stream, next)?;
                self.flush_sends = true;
            }

            if self.flush_sends {
                ready!(self.write_half.poll_flush(&mut self.stream, cx))?;
                self.flush_sends = false;
            }

            Poll::Ready(Ok(()))
        })
    }
}

impl<S> futures::Stream for Streaming<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    type Item = Frame;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        match ready!(this.poll_next_frame(cx)) {
            Ok(ok) => Poll::Ready(Some(ok)),
            Err(_) => Poll::Ready(None),
        }
    }
}

impl<S> futures::Sink<Frame> for Streaming<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    type Error = WebSocketError;

    fn poll_ready(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<std::result::Result<(), Self::Error>> {
        let this = self.get_mut();
        if this.obligated_sends.is_empty()
            && !this.flush_sends
            && this.direct.is_empty()
            && this.stream.write_buffer().len() < this.stream.backpressure_boundary()
        {
            // Framed can accept another frame without polling the transport.
            return this.write_half.poll_ready(&mut this.stream, cx);
        }
        this.wake_proxy.set_waker(ContextKind::Write, cx.waker());
        ready!(this
            .wake_proxy
            .with_context(|cx| poll_write_direct(&mut this.stream, &mut this.direct, cx)))?;
        ready!(this.poll_flush_obligated(ContextKind::Write, cx))?;
        this.wake_proxy
            .with_context(|cx| this.write_half.poll_ready(&mut this.stream, cx))
    }

    fn start_send(self: Pin<&mut Self>, mut item: Frame) -> std::result::Result<(), Self::Error> {
        let this = self.get_mut();

        #[cfg(test)]
        println!(
            ">>Compression>> OpCode={:?} Fin={} Payload={}",
            item.opcode,
            item.fin,
            item.payload.len()
        );

        // A whole message in one frame may skip compression. A fragmented message
        // cannot, since RSV1 on its first frame covers every fragment.
        let small_message = item.opcode != OpCode::Continuation
            && item.is_fin()
            && item.payload.len() < this.compression_threshold;
        let should_compress = !item.opcode.is_control() && !small_message;
        if should_compress {
            if let Some(deflate) = this.deflate.as_mut() {
                let output = deflate.compress(&item.payload, item.is_fin())?;
                // Set the RSV1 bit only when we are not streaming
                item.is_compressed = !this.write_half.streaming;
                item.payload = output;
            }
        }

        // duplex patch: a large unmasked data payload stays where it is; only
        // its header goes into the write buffer, and the payload follows it
        // on the next write (poll_ready and poll_flush write it out first).
        if this.direct_writes
            && this.direct.is_empty()
            && item.mask.is_none()
            && !item.opcode.is_control()
            && item.payload.len() >= DIRECT_WRITE_MIN
        {
            item.write_head(this.stream.write_buffer_mut());
            this.write_half.streaming = !item.is_fin();
            this.direct = std::mem::take(&mut item.payload);
            return Ok(());
        }

        this.write_half.start_send(&mut this.stream, item)?;

        // Frames up to the backpressure boundary collect in the buffer between
        // flushes, so only growth past both limits is given back.
        let usual = this
            .write_buffer_capacity
            .max(this.stream.backpressure_boundary());
        if this.stream.write_buffer().len() > usual {
            this.write_buffer_grown = true;
        }
        Ok(())
    }

    fn poll_flush(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<std::result::Result<(), Self::Error>> {
        let this = self.get_mut();
        // duplex patch: the caller's waker is registered only when the write
        // has to wait (`poll_with_context` tries first, then registers and
        // tries again). A flush nearly always completes at once, and a
        // registered write waker is taken by every wake-up of the socket
        // (the reads' included), so registering it on each flush cost a
        // waker clone and drop per message.
        let (stream, direct, write_half) =
            (&mut this.stream, &mut this.direct, &mut this.write_half);
        ready!(this
            .wake_proxy
            .poll_with_context(ContextKind::Write, cx, |cx| {
                ready!(poll_write_direct(stream, direct, cx))?;
                write_half.poll_flush(stream, cx)
            }))?;
        this.release_write_buffer();
        Poll::Ready(Ok(()))
    }

    fn poll_close(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<std::result::Result<(), Self::Error>> {
        let this = self.get_mut();
        this.wake_proxy.set_waker(ContextKind::Write, cx.waker());
        ready!(this
            .wake_proxy
            .with_context(|cx| poll_write_direct(&mut this.stream, &mut this.direct, cx)))?;
        this.wake_proxy
            .with_context(|cx| this.write_half.poll_close(&mut this.stream, cx))
    }
}

/// duplex patch: writes what the write buffer holds and then `direct`, the
/// payload whose header ends the buffer, until `direct` is empty: one
/// vectored write where the transport takes one.
fn poll_write_direct<S>(
    stream: &mut Framed<S, Codec>,
    direct: &mut Bytes,
    cx: &mut Context<'_>,
) -> Poll<Result<()>>
where
    S: AsyncWrite + Unpin,
{
    while !direct.is_empty() {
        // Taken out for the write, which needs the transport at the same time.
        let mut buffer = std::mem::take(stream.write_buffer_mut());
        let written = Pin::new(stream.get_mut())
            .poll_write_vectored(cx, &[IoSlice::new(&buffer), IoSlice::new(direct)]);
        if let Poll::Ready(Ok(n)) = &written {
            let from_buffer = (*n).min(buffer.len());
            buffer.advance(from_buffer);
            direct.advance(n - from_buffer);
        }
        *stream.write_buffer_mut() = buffer;
        match written {
            Poll::Ready(Ok(0)) => {
                return Poll::Ready(Err(std::io::Error::from(std::io::ErrorKind::WriteZero).into()))
            }
            Poll::Ready(Ok(_)) => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e.into())),
            Poll::Pending => return Poll::Pending,
        }
    }
    Poll::Ready(Ok(()))
}

/// Replaces `buffer` with one of `capacity` bytes, keeping its contents.
///
/// The new buffer is never smaller than the bytes already in it.
fn set_capacity(buffer: &mut BytesMut, capacity: usize) {
    let mut resized = BytesMut::with_capacity(capacity.max(buffer.len()));
    resized.extend_from_slice(buffer);
    *buffer = resized;
}

#[cfg(test)]
mod wake_tests {
    use super::*;
    use crate::Options;
    use std::{
        sync::atomic::{AtomicUsize, Ordering},
        task::{Wake, Waker},
    };
    use tokio::io::{duplex, AsyncWriteExt};

    #[derive(Default)]
    struct WakeCount(AtomicUsize);

    impl Wake for WakeCount {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }

        fn wake_by_ref(self: &Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[tokio::test]
    async fn two_buffered_header_bytes_register_a_waker_when_payload_is_missing() {
        let negotiated = Negotiation::new(None, &Options::default(), Role::Client).unwrap();
        let (io, mut peer) = duplex(16);
        let mut stream = Streaming::new(
            Role::Client,
            io,
            Bytes::from_static(b"\x82\x03"),
            &negotiated,
        );
        let count = Arc::new(WakeCount::default());
        let waker = Waker::from(Arc::clone(&count));
        let mut cx = Context::from_waker(&waker);

        assert_eq!(stream.stream.read_buffer().len(), 2);
        assert!(stream.poll_next_frame(&mut cx).is_pending());
        assert_eq!(count.0.load(Ordering::Relaxed), 0);

        peer.write_all(b"abc").await.unwrap();
        assert!(count.0.load(Ordering::Relaxed) > 0);
        let Poll::Ready(Ok(frame)) = stream.poll_next_frame(&mut cx) else {
            panic!("the completed frame must be ready after its payload arrives");
        };
        assert_eq!(frame.opcode(), OpCode::Binary);
        assert_eq!(frame.payload().as_ref(), b"abc");
    }
}

#[cfg(test)]
mod capacity_tests {
    use super::*;
    use crate::Options;
    use tokio::io::duplex;

    #[tokio::test]
    async fn reservation_preserves_bytes_received_with_the_upgrade() {
        let options = Options::default().with_read_buffer_capacity(64 * 1024);
        let negotiated = Negotiation::new(None, &options, Role::Client).unwrap();
        let (io, _peer) = duplex(1);
        let mut stream = Streaming::new(
            Role::Client,
            io,
            Bytes::from_static(b"\x82\x03abc"),
            &negotiated,
        );
        assert!(stream.stream.read_buffer().capacity() >= 64 * 1024);
        assert_eq!(
            stream.next_frame().await.unwrap().payload().as_ref(),
            b"abc"
        );
    }

    #[tokio::test]
    async fn small_capacities_are_exact_and_keep_upgrade_bytes() {
        let options = Options::default()
            .with_read_buffer_capacity(512)
            .with_write_buffer_capacity(256);
        let negotiated = Negotiation::new(None, &options, Role::Client).unwrap();
        let (io, _peer) = duplex(1);
        let mut stream = Streaming::new(
            Role::Client,
            io,
            Bytes::from_static(b"\x82\x03abc"),
            &negotiated,
        );
        assert_eq!(stream.stream.read_buffer().capacity(), 512);
        assert_eq!(stream.stream.write_buffer().capacity(), 256);
        // The flush threshold stays at tokio-util's default, not the buffer size.
        let default = Negotiation::new(None, &Options::default(), Role::Client).unwrap();
        let (io, _peer) = duplex(1);
        let default = Streaming::new(Role::Client, io, Bytes::new(), &default);
        assert_eq!(
            stream.stream.backpressure_boundary(),
            default.stream.backpressure_boundary()
        );
        assert_eq!(
            stream.next_frame().await.unwrap().payload().as_ref(),
            b"abc"
        );
    }

    /// duplex patch 5: frames split off the buffer's front take its room;
    /// an empty buffer gets it back before the next read, in place.
    #[tokio::test]
    async fn an_empty_buffer_gets_its_room_back_before_a_read() {
        use tokio::io::AsyncWriteExt;
        let options = Options::default().with_read_buffer_capacity(512);
        let negotiated = Negotiation::new(None, &options, Role::Client).unwrap();
        let (io, mut peer) = duplex(4096);
        let mut stream = Streaming::new(Role::Client, io, Bytes::new(), &negotiated);
        let mut frame = vec![0x82u8, 60];
        frame.extend_from_slice(&[7u8; 60]);
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        let mut lowest = usize::MAX;
        for _ in 0..40 {
            peer.write_all(&frame).await.unwrap();
            let Poll::Ready(Ok(got)) = stream.poll_next_frame(&mut cx) else {
                panic!("a whole frame was written");
            };
            assert_eq!(got.payload().len(), 60);
            drop(got);
            // Nothing more to read: this poll only makes room, then waits.
            assert!(stream.poll_next_frame(&mut cx).is_pending());
            lowest = lowest.min(stream.stream.read_buffer().capacity());
        }
        assert!(
            lowest >= 256,
            "the room fell to {lowest} bytes of 512 before a read"
        );
    }

    /// duplex patch 4: a flush that has to wait registers the caller's
    /// waker, and is woken when the transport takes more.
    #[tokio::test]
    async fn a_flush_that_waits_is_woken_when_the_peer_reads() {
        use futures::SinkExt;
        use tokio::io::AsyncReadExt;
        let options = Options::default();
        let negotiated = Negotiation::new(None, &options, Role::Server).unwrap();
        // A pipe that holds 16 bytes: a 1,000-byte frame must wait for reads.
        let (io, mut peer) = duplex(16);
        let mut stream = Streaming::new(Role::Server, io, Bytes::new(), &negotiated);
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            let mut chunk = [0u8; 64];
            while got.len() < 1004 {
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                let n = peer.read(&mut chunk).await.unwrap();
                got.extend_from_slice(&chunk[..n]);
            }
            got
        });
        let frame = Frame::binary(Bytes::from(vec![9u8; 1000]));
        tokio::time::timeout(std::time::Duration::from_secs(5), stream.send(frame))
            .await
            .expect("the flush was never woken")
            .unwrap();
        let got = reader.await.unwrap();
        assert_eq!(&got[..4], &[0x82, 126, 0x03, 0xe8]);
        assert!(got[4..].iter().all(|&b| b == 9));
    }

    /// duplex patch 6: a read that has to wait leaves the caller's waker in
    /// the wake proxy, or with direct reads on the stream itself; either
    /// way the caller is woken when a frame arrives, and reads it.
    #[tokio::test]
    async fn a_direct_read_waits_on_the_stream_itself() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use tokio::io::AsyncWriteExt;
        struct Count(AtomicUsize);
        impl futures::task::ArcWake for Count {
            fn wake_by_ref(this: &Arc<Self>) {
                this.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        for direct in [false, true] {
            let negotiated =
                Negotiation::new(None, &Options::default(), Role::Server).unwrap();
            let (io, mut peer) = duplex(4096);
            let mut stream = Streaming::new(Role::Server, io, Bytes::new(), &negotiated);
            stream.set_direct_reads(direct);
            let count = Arc::new(Count(AtomicUsize::new(0)));
            let waker = futures::task::waker(count.clone());
            let mut cx = Context::from_waker(&waker);
            assert!(stream.poll_next_frame(&mut cx).is_pending());
            let in_proxy = match stream.wake_proxy.read_waker.take() {
                Some(w) => {
                    stream.wake_proxy.read_waker.register(&w);
                    true
                }
                None => false,
            };
            assert_eq!(in_proxy, !direct, "direct reads: {direct}");
            // A masked binary frame, as a client sends it: "abc".
            let mask = [1u8, 2, 3, 4];
            let mut frame = vec![0x82u8, 0x83];
            frame.extend_from_slice(&mask);
            frame.extend(b"abc".iter().zip(mask).map(|(b, m)| b ^ m));
            peer.write_all(&frame).await.unwrap();
            assert_eq!(count.0.load(Ordering::SeqCst), 1, "direct reads: {direct}");
            let Poll::Ready(Ok(got)) = stream.poll_next_frame(&mut cx) else {
                panic!("a whole frame was written (direct reads: {direct})");
            };
            assert_eq!(got.payload().as_ref(), b"abc");
        }
    }

    #[tokio::test]
    async fn capacity_does_not_relax_the_payload_limit() {
        let options = Options::default()
            .with_read_buffer_capacity(64 * 1024)
            .with_max_payload_read(2);
        let negotiated = Negotiation::new(None, &options, Role::Client).unwrap();
        let (io, _peer) = duplex(1);
        let mut stream = Streaming::new(
            Role::Client,
            io,
            Bytes::from_static(b"\x82\x03abc"),
            &negotiated,
        );
        assert!(matches!(
            stream.next_frame().await,
            Err(WebSocketError::FrameTooLarge)
        ));
    }
}

/// duplex patch 7: which frames `poll_send_small` may take. Anything it
/// refuses goes through the sink, which handles every case.
#[cfg(test)]
mod small_send_tests {
    use super::*;
    use crate::{compression::WebSocketExtensions, Options};
    use std::str::FromStr;
    use tokio::io::{duplex, DuplexStream};

    fn streaming(options: Options, extensions: Option<&str>) -> Streaming<DuplexStream> {
        let extensions = extensions.map(|e| WebSocketExtensions::from_str(e).unwrap());
        let negotiated = Negotiation::new(extensions, &options, Role::Server).unwrap();
        let (io, _peer) = duplex(1 << 16);
        Streaming::new(Role::Server, io, Bytes::new(), &negotiated)
    }

    #[test]
    fn a_whole_small_frame_with_nothing_ahead_of_it_may_go_alone() {
        let stream = streaming(Options::default(), None);
        let largest = SMALL_SEND_MAX - crate::frame::MAX_HEAD_SIZE;
        for frame in [
            Frame::text("hello"),
            Frame::binary(Bytes::new()),
            Frame::binary(vec![1u8; largest]),
            Frame::ping("p"),
            Frame::pong(Bytes::new()),
        ] {
            assert!(stream.can_send_small(&frame), "{:?}", frame.opcode);
        }
        for (why, frame) in [
            ("too large", Frame::binary(vec![1u8; largest + 1])),
            ("a close", Frame::close(CloseCode::Normal, b"")),
            ("not the last fragment", Frame::text("a").with_fin(false)),
            ("a continuation", Frame::continuation("a")),
        ] {
            assert!(!stream.can_send_small(&frame), "{why}");
        }
    }

    #[test]
    fn a_frame_waits_behind_what_is_queued_or_owed() {
        let frame = Frame::text("hello");

        let mut stream = streaming(Options::default(), None);
        stream.obligated_sends.push_back(Frame::pong("p"));
        assert!(!stream.can_send_small(&frame), "a pong owed");

        let mut stream = streaming(Options::default(), None);
        stream.stream.write_buffer_mut().extend_from_slice(b"\x81\x01a");
        assert!(!stream.can_send_small(&frame), "bytes in the write buffer");

        let mut stream = streaming(Options::default(), None);
        stream.direct = Bytes::from_static(b"payload");
        assert!(!stream.can_send_small(&frame), "a payload half written");

        let mut stream = streaming(Options::default(), None);
        let first = Frame::binary("a").with_fin(false);
        stream.write_half.start_send(&mut stream.stream, first).unwrap();
        stream.stream.write_buffer_mut().clear();
        assert!(!stream.can_send_small(&frame), "inside a fragmented message");
    }

    #[test]
    fn a_frame_to_compress_takes_the_sink() {
        let options = Options::default().with_compression_threshold(64);
        let stream = streaming(options, Some("permessage-deflate"));
        assert!(stream.deflate.is_some(), "compression was negotiated");
        assert!(stream.can_send_small(&Frame::text("x".repeat(63))));
        assert!(!stream.can_send_small(&Frame::text("x".repeat(64))));
        // Control frames are never compressed.
        assert!(stream.can_send_small(&Frame::ping("x".repeat(100))));
    }
}
