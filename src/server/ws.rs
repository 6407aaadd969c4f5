//! One WebSocket session after the opening handshake (see
//! [`crate::websocket`] for the stack and why).
//!
//! Each message is one request. Echo sends every message back with the same
//! type and payload; line services answer with text messages. Protocol
//! failures close the session with the code RFC 6455 assigns: 1002 for a
//! protocol error, 1007 for invalid UTF-8 in a text message, 1009 for a
//! message over `--max-message` (also when only its inflated size is). An
//! idle session is closed with 1000 (`idle timeout`) and shutdown closes
//! every session with 1001.

use std::pin::Pin;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite};

use super::interrupts::{Interrupt, Interrupts};
use super::metrics::{ErrorKind, Limit};
use super::session::{End, Traffic};
use super::shared::Shared;
use crate::service::{Flow, Session, handle_request};
use crate::websocket::{Close, Error, Incoming, Message, WebSocket};

/// How long to wait for the peer's answer to our close frame.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// Runs the mounted service over one WebSocket until the client, the
/// service, a limit or shutdown ends it.
///
/// A plain function returning an `async move` block rather than an `async
/// fn`: the future rests in every idle session's task, and an `async fn`
/// keeps its arguments apart from the locals they move into, which would
/// hold the WebSocket (nearly 900 bytes) twice. The session's ends (close
/// handshakes) are boxed for the same reason: they happen once, and the
/// resting future need not have room for them.
pub fn serve<'a, S>(
    mut ws: WebSocket<S>,
    mut session: Option<Box<dyn Session>>,
    shared: &'a Shared,
    traffic: &'a mut Traffic<'_>,
) -> impl Future<Output = End> + 'a
where
    S: AsyncRead + AsyncWrite + Unpin + 'a,
{
    let mut interrupts =
        Interrupts::new(Some(shared.limits.idle_timeout), shared.token.cancelled())
            .with_ping(shared.limits.ping_interval);
    // The reply being produced, and the buffer replies are sent from (kept
    // for the whole session so that replying allocates nothing per request).
    let mut out = (Vec::new(), BytesMut::new());
    async move {
        if let Some(s) = session.as_mut() {
            let flow = s.open();
            if send_replies(&mut ws, s.as_mut(), &mut out, traffic)
                .await
                .is_err()
            {
                return End::ClientClosed;
            }
            if flow == Flow::Close {
                close(&mut ws, 1000, "bye").await;
                return End::ServiceClosed;
            }
        }

        let mut awaiting_pong = false;
        loop {
            let incoming = match interrupts.until(ws.recv()).await {
                Ok(Ok(i)) => i,
                Ok(Err(e)) => {
                    count(&e, traffic);
                    Box::pin(ws.fail(&e, CLOSE_WAIT)).await;
                    return End::ClientClosed;
                }
                Err(Interrupt::Idle) => {
                    close(&mut ws, 1000, "idle timeout").await;
                    return End::Idle;
                }
                Err(Interrupt::Shutdown) => {
                    close(&mut ws, 1001, "server shutting down").await;
                    return End::Shutdown;
                }
                Err(Interrupt::Ping) => {
                    if awaiting_pong {
                        tracing::debug!("no pong since the last ping; dropping the peer");
                        return End::Idle;
                    }
                    awaiting_pong = true;
                    if ws.ping().await.is_err() {
                        return End::ClientClosed;
                    }
                    continue;
                }
            };
            let message = match incoming {
                Incoming::Message(m) => m,
                Incoming::Pong => {
                    awaiting_pong = false;
                    continue;
                }
                Incoming::Close(_) => {
                    Box::pin(ws.finish(CLOSE_WAIT)).await;
                    return End::ClientClosed;
                }
            };
            interrupts.touch();
            traffic.request();
            let n = message.payload.len();
            traffic.received(n);
            let result = match session.as_mut() {
                None => {
                    // The message goes back as it came: same type, same payload,
                    // no copy.
                    let sent = ws.send(message).await.map(|_| Flow::Continue);
                    traffic.sent(n);
                    sent
                }
                Some(s) => {
                    let flow = handle_request(s.as_mut(), &message.payload, true);
                    send_replies(&mut ws, s.as_mut(), &mut out, traffic)
                        .await
                        .map(|_| flow)
                }
            };
            match result {
                Ok(Flow::Continue) => interrupts.touch(),
                Ok(Flow::Close) => {
                    close(&mut ws, 1000, "STOP").await;
                    return End::ServiceClosed;
                }
                Err(_) => return End::ClientClosed,
            }
        }
    }
}

/// Counts a failed read: a limit, invalid UTF-8 or a protocol error (an
/// I/O error or a closed connection is the client going away).
fn count(e: &Error, traffic: &mut Traffic<'_>) {
    match e {
        Error::TooBig => traffic.counters.limit_hit(Limit::MaxMessage),
        Error::Utf8 => traffic.counters.error(ErrorKind::Utf8),
        Error::Protocol(_) => traffic.counters.error(ErrorKind::Protocol),
        Error::Closed | Error::Io(_) => {
            tracing::debug!(error = %e, "websocket ended");
            return;
        }
    }
    tracing::debug!(error = %e, "closing websocket");
}

/// Sends every queued reply as a text message, flushing once at the end.
async fn send_replies<S>(
    ws: &mut WebSocket<S>,
    session: &mut dyn Session,
    (reply, out): &mut (Vec<u8>, BytesMut),
    traffic: &mut Traffic<'_>,
) -> Result<(), Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut any = false;
    loop {
        reply.clear();
        if !session.next_reply(reply) {
            break;
        }
        // Replies are carved out of one session-long buffer: `split()`
        // hands the message its bytes without a new allocation per reply
        // until the buffer's capacity is used up.
        if out.capacity() < reply.len() {
            out.reserve(reply.len().max(4096));
        }
        // Replies are produced from text (numbers, times, ERR messages); a
        // text message must be UTF-8, so anything else is replaced.
        match std::str::from_utf8(reply) {
            Ok(_) => out.extend_from_slice(reply),
            Err(_) => out.extend_from_slice(String::from_utf8_lossy(reply).as_bytes()),
        }
        traffic.sent(out.len());
        ws.feed(Message::text(out.split().freeze())).await?;
        any = true;
    }
    if any {
        ws.flush().await?;
    }
    Ok(())
}

/// Sends a close frame and waits (briefly) for the peer's answer, so that
/// the close handshake completes cleanly. Boxed: see [`serve`].
fn close<S>(
    ws: &mut WebSocket<S>,
    code: u16,
    reason: &'static str,
) -> Pin<Box<impl Future<Output = ()>>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    Box::pin(async move {
        ws.close(&Close::new(code, reason), CLOSE_WAIT, drop).await;
    })
}
