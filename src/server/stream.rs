//! One connection over a byte stream (TCP, Unix, TLS): echo as a copy loop,
//! line services as requests split on `\n`.
//!
//! Both loops read only when the previous replies have been written, so a
//! client that sends without reading fills its own socket buffers and then
//! stalls: the server's memory stays bounded by one read buffer, one line
//! (`--max-line`) and one batch of replies. Echo keeps no buffer while idle
//! (see [`echo`]).

use std::cell::RefCell;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

use super::interrupts::Interrupts;
use super::metrics::{Limit, Transport};
use super::mounted::Mounted;
use super::peer::Peer;
use super::session::{End, SessionLog, Traffic};
use super::shared::Shared;
use crate::service::{Flow, Session, handle_request};

/// Echo read buffer (one per worker thread): large enough for bulk transfers
/// in few system calls.
const ECHO_BUFFER: usize = 16 * 1024;
/// Replies are written out when this much is queued, and at the end of
/// every batch of requests.
const REPLY_FLUSH: usize = 16 * 1024;

/// How long closing a session the server ends (idle, shutdown) may take.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// Serves one accepted connection of a stream transport (TCP, Unix, TLS):
/// admits it under `--max-connections` (a refused client gets one
/// `ERR server busy` line and is closed at once), counts it, runs the
/// service over it and logs how it ended.
pub async fn serve_connection<S>(
    mut stream: S,
    peer: Peer,
    mounted: Arc<Mounted>,
    shared: Arc<Shared>,
    transport: Transport,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let Some(_permit) = shared.admit() else {
        tracing::warn!(%peer, transport = transport.label(), service = mounted.name(), "refused: --max-connections reached");
        mounted.counters.get(transport).refused();
        let msg = shared.busy_message();
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            stream.write_all(msg.as_bytes()).await?;
            stream.shutdown().await
        })
        .await;
        return;
    };
    let (log, session) = SessionLog::open(&shared, &mounted, transport, peer).await;
    let mut traffic = Traffic::new(log.counters);
    let close_notify = transport == Transport::Tls;
    let result = serve(stream, session, &shared, &mut traffic, close_notify).await;
    log.close(&traffic, &result);
}

/// Runs the mounted service over one stream connection.
///
/// `close_notify` is true over TLS, whose sessions must end with a
/// close_notify alert. A plain socket needs nothing when the client has
/// closed: every byte has been read, so dropping it sends FIN (one system
/// call fewer per connection than `shutdown` and then `close`).
pub async fn serve<S>(
    mut stream: S,
    session: Option<Box<dyn Session>>,
    shared: &Shared,
    traffic: &mut Traffic<'_>,
    close_notify: bool,
) -> io::Result<End>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let end = match session {
        None => echo(&mut stream, shared, traffic).await,
        // Boxed: the line loop's state is several times the size of echo's,
        // and in place it would make every echo task (and so every idle
        // echo connection) as large.
        Some(session) => Box::pin(lines(&mut stream, session, shared, traffic)).await,
    };
    match end {
        // The server ends the session: close it properly (over TLS this
        // sends close_notify, without which the peer sees a truncation),
        // but never wait long for a peer that does not read.
        Ok(End::Idle | End::Shutdown) => {
            // Boxed, like every rare await with a timer in it: a timer
            // held in place would be part of every connection's task.
            let _ = Box::pin(tokio::time::timeout(CLOSE_WAIT, stream.shutdown())).await;
        }
        Ok(End::ClientClosed) if close_notify => stream.shutdown().await?,
        _ => {}
    }
    end
}

/// Waits for `fut` unless the session goes idle or the server shuts down
/// (see [`Interrupts`]: the watchers cost nothing on wake-ups from the
/// socket); shutdown does not interrupt a `fresh` session, which has not
/// had its first request yet.
macro_rules! interruptible {
    ($fut:expr, $interrupts:expr, $fresh:expr) => {
        match $interrupts.until_served($fut, $fresh).await {
            Ok(r) => r,
            Err(e) => return Ok(End::from(e)),
        }
    };
}

/// RFC 862 over a stream: every byte back, unchanged.
///
/// The loop holds no buffer of its own, so an idle connection costs only
/// its task and socket: waiting happens inside [`poll_echo`], which borrows
/// the worker thread's [`SCRATCH`] buffer for the duration of one poll,
/// reads what is there and writes it straight back. Only bytes the socket
/// will not take at once (the client is not reading) are copied into a
/// buffer of their own, which lives until they are written.
async fn echo<S>(mut stream: S, shared: &Shared, traffic: &mut Traffic<'_>) -> io::Result<End>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut interrupts =
        Interrupts::new(Some(shared.limits.idle_timeout), shared.token.cancelled());
    loop {
        let echoed = interruptible!(
            std::future::poll_fn(|cx| poll_echo(&mut stream, cx)),
            interrupts,
            traffic.bytes_in == 0
        )?;
        let Some((n, unsent)) = echoed else {
            return Ok(End::ClientClosed);
        };
        interrupts.touch();
        traffic.received(n);
        if let Some(unsent) = unsent {
            // Only the idle timer interrupts writing: a reply already
            // read is in flight and shutdown lets it finish (bounded by
            // --shutdown-timeout).
            let written = interrupts.until_idle(async {
                stream.write_all(&unsent).await?;
                stream.flush().await
            });
            match written.await {
                Ok(r) => r?,
                Err(_) => return Ok(End::Idle),
            }
            // Only a write that had to wait moves the deadline again.
            interrupts.touch();
        }
        traffic.sent(n);
    }
}

thread_local! {
    /// The echo read buffer of this worker thread, lent to one connection
    /// for the duration of one poll (no `.await` while it is borrowed).
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(vec![0; ECHO_BUFFER]);
}

/// Bytes echoed by one [`poll_echo`], and those the socket did not take.
type Echoed = Option<(usize, Option<Vec<u8>>)>;

/// Waits until `stream` has data, reads it into the thread's scratch buffer
/// and writes it back as far as the socket takes it, all in one poll.
/// `Ready(None)` is the end of the stream.
///
/// Cancel-safe: it returns `Pending` only before anything was read (a
/// pending `poll_read` keeps no reference to the buffer), and once bytes
/// are read it always returns them, copying what could not be written yet.
fn poll_echo<S>(stream: &mut S, cx: &mut Context<'_>) -> Poll<io::Result<Echoed>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    SCRATCH.with_borrow_mut(|scratch| {
        let mut buf = ReadBuf::new(scratch);
        ready!(Pin::new(&mut *stream).poll_read(cx, &mut buf))?;
        let data = buf.filled();
        if data.is_empty() {
            return Poll::Ready(Ok(None));
        }
        let mut written = 0;
        while written < data.len() {
            match Pin::new(&mut *stream).poll_write(cx, &data[written..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(w)) => written += w,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => break,
            }
        }
        // TCP and Unix sockets flush at once; TLS may hold records back.
        let flushed = written == data.len()
            && matches!(Pin::new(&mut *stream).poll_flush(cx), Poll::Ready(Ok(())));
        let unsent = (!flushed).then(|| data[written..].to_vec());
        Poll::Ready(Ok(Some((data.len(), unsent))))
    })
}

/// A line service over a stream.
async fn lines<S>(
    mut stream: S,
    mut session: Box<dyn Session>,
    shared: &Shared,
    traffic: &mut Traffic<'_>,
) -> io::Result<End>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let max_line = shared.limits.max_line;
    let mut interrupts =
        Interrupts::new(Some(shared.limits.idle_timeout), shared.token.cancelled());
    let mut out = Replies::default();

    let flow = session.open();
    out.drain(session.as_mut(), &mut stream, &mut interrupts, traffic)
        .await?;
    out.flush(&mut stream, &mut interrupts, traffic).await?;
    if flow == Flow::Close {
        stream.shutdown().await?;
        return Ok(End::ServiceClosed);
    }

    let mut buf = BytesMut::with_capacity(1024);
    // True while the rest of an over-long line is being thrown away.
    let mut discarding = false;
    // Where to resume looking for '\n' (bytes before it have none).
    let mut scanned = 0;
    loop {
        while let Some(i) = buf[scanned..].iter().position(|&b| b == b'\n') {
            let end = scanned + i;
            scanned = 0;
            if discarding {
                buf.advance(end + 1);
                discarding = false;
                continue;
            }
            let mut line = &buf[..end];
            if let Some(l) = line.strip_suffix(b"\r") {
                line = l;
            }
            let flow = if line.len() > max_line {
                traffic.counters.limit_hit(Limit::MaxLine);
                out.line(&format!(
                    "ERR line of {} bytes is over the limit of {max_line} bytes (--max-line)",
                    line.len()
                ));
                Flow::Continue
            } else {
                traffic.request();
                handle_request(session.as_mut(), line, true)
            };
            buf.advance(end + 1);
            out.drain(session.as_mut(), &mut stream, &mut interrupts, traffic)
                .await?;
            if flow == Flow::Close {
                out.flush(&mut stream, &mut interrupts, traffic).await?;
                stream.shutdown().await?;
                return Ok(End::ServiceClosed);
            }
        }
        scanned = buf.len();
        if !discarding && buf.len() > max_line {
            out.line(&format!(
                "ERR line is over the limit of {max_line} bytes (--max-line); the rest of it is discarded"
            ));
            tracing::debug!("line over --max-line; discarding the rest of it");
            traffic.counters.limit_hit(Limit::MaxLine);
            discarding = true;
        }
        if discarding {
            buf.clear();
            scanned = 0;
        }
        out.flush(&mut stream, &mut interrupts, traffic).await?;

        if buf.capacity() - buf.len() < 512 {
            buf.reserve(4096);
        }
        let before = buf.len();
        let fresh = traffic.bytes_in == 0 && traffic.bytes_out == 0;
        let n = interruptible!(stream.read_buf(&mut buf), interrupts, fresh)?;
        // Only a complete request is activity: a client that trickles a line
        // a byte at a time and never finishes it (slowloris) is idle.
        if buf[before..].contains(&b'\n') {
            interrupts.touch();
        }
        traffic.received(n);
        if n == 0 {
            // A last request without a line break still counts.
            if !buf.is_empty() && !discarding {
                let line = std::mem::take(&mut buf);
                traffic.request();
                handle_request(session.as_mut(), &line, true);
                out.drain(session.as_mut(), &mut stream, &mut interrupts, traffic)
                    .await?;
                out.flush(&mut stream, &mut interrupts, traffic).await?;
            }
            return Ok(End::ClientClosed);
        }
    }
}

/// Outgoing replies of one stream session, written in batches.
#[derive(Default)]
struct Replies {
    out: Vec<u8>,
    /// Reused for every reply so that producing one allocates nothing.
    reply: Vec<u8>,
}

impl Replies {
    fn line(&mut self, text: &str) {
        self.out.extend_from_slice(text.as_bytes());
        self.out.push(b'\n');
    }

    /// Moves every queued reply of `session` into the output, writing to the
    /// socket whenever a batch is full (this is where backpressure applies).
    async fn drain<S: AsyncWrite + Unpin>(
        &mut self,
        session: &mut dyn Session,
        stream: &mut S,
        interrupts: &mut Interrupts<'_>,
        traffic: &mut Traffic<'_>,
    ) -> io::Result<()> {
        loop {
            self.reply.clear();
            if !session.next_reply(&mut self.reply) {
                return Ok(());
            }
            self.out.extend_from_slice(&self.reply);
            self.out.push(b'\n');
            if self.out.len() >= REPLY_FLUSH {
                self.flush(stream, interrupts, traffic).await?;
            }
        }
    }

    async fn flush<S: AsyncWrite + Unpin>(
        &mut self,
        stream: &mut S,
        interrupts: &mut Interrupts<'_>,
        traffic: &mut Traffic<'_>,
    ) -> io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        match interrupts.until_idle(stream.write_all(&self.out)).await {
            Ok(r) => r?,
            Err(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "client stopped reading (idle timeout)",
                ));
            }
        }
        interrupts.touch();
        traffic.sent(self.out.len());
        self.out.clear();
        // A burst of `random 100000` must not leave a large buffer behind.
        if self.out.capacity() > 4 * REPLY_FLUSH {
            self.out.shrink_to(REPLY_FLUSH);
        }
        Ok(())
    }
}
