//! One WebSocket session (RFC 6455, via tokio-websockets) after the HTTP
//! upgrade.
//!
//! Each message is one request. Echo sends every message back with the same
//! type and payload; line services answer with text messages. Protocol
//! failures close the session with the code RFC 6455 assigns: 1002 for a
//! protocol error, 1007 for invalid UTF-8 in a text message, 1009 for a
//! message over `--max-message`. An idle session is closed with 1000
//! (`idle timeout`) and shutdown closes every session with 1001.
//!
//! Why tokio-websockets (BENCHMARKS.md has the measurements): its stream
//! API is cancel-safe, so reading can wait beside the idle timer, the ping
//! timer and shutdown without losing half-read frames; its limit applies to
//! a whole fragmented message, not only to single frames; and it sends
//! payloads without copying them into a frame buffer and reads a large
//! frame in few system calls. tokio-tungstenite, which served here first,
//! matched it on 64-byte messages but used twice the CPU per 64 KiB
//! message; fastwebsockets is as fast but its `read_frame` is not
//! cancel-safe and its fragment collector has no message limit.

use std::time::Duration;

use bytes::BytesMut;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_websockets::proto::ProtocolError;
use tokio_websockets::{CloseCode, Error as WsError, Message, Payload, ServerBuilder};

use super::interrupts::{Interrupt, Interrupts};
use super::metrics::{ErrorKind, Limit};
use super::mounted::Mounted;
use super::session::{End, Traffic};
use super::shared::Shared;
use crate::service::{Flow, Session, handle_request};

/// How long to wait for the peer's answer to our close frame.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

type Ws<S> = tokio_websockets::WebSocketStream<S>;

/// Runs the mounted service over one upgraded connection until the client,
/// the service, a limit or shutdown ends it.
pub async fn serve<S>(io: S, mounted: &Mounted, shared: &Shared, traffic: &mut Traffic<'_>) -> End
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    // tokio-websockets' own `Limits` (frame and message sizes), not the
    // server's.
    let frame_limits =
        tokio_websockets::Limits::default().max_payload_len(Some(shared.limits.max_message));
    let mut ws = ServerBuilder::new().limits(frame_limits).serve(io);
    let mut session = mounted.open_session();
    let mut interrupts =
        Interrupts::new(Some(shared.limits.idle_timeout), shared.token.cancelled())
            .with_ping(shared.limits.ping_interval);
    // The reply being produced, and the buffer replies are sent from (kept
    // for the whole session so that replying allocates nothing per request).
    let mut out = (Vec::new(), BytesMut::new());

    if let Some(s) = session.as_mut() {
        let flow = s.open();
        if send_replies(&mut ws, s.as_mut(), &mut out, traffic)
            .await
            .is_err()
        {
            return End::ClientClosed;
        }
        if flow == Flow::Close {
            close(&mut ws, CloseCode::NORMAL_CLOSURE, "bye").await;
            return End::ServiceClosed;
        }
    }

    let mut awaiting_pong = false;
    loop {
        let msg = match interrupts.until(ws.next()).await {
            Ok(m) => m,
            Err(Interrupt::Idle) => {
                close(&mut ws, CloseCode::NORMAL_CLOSURE, "idle timeout").await;
                return End::Idle;
            }
            Err(Interrupt::Shutdown) => {
                close(&mut ws, CloseCode::GOING_AWAY, "server shutting down").await;
                return End::Shutdown;
            }
            Err(Interrupt::Ping) => {
                if awaiting_pong {
                    tracing::debug!("no pong since the last ping; dropping the peer");
                    return End::Idle;
                }
                awaiting_pong = true;
                if ws
                    .send(Message::ping(Payload::from(&b""[..])))
                    .await
                    .is_err()
                {
                    return End::ClientClosed;
                }
                continue;
            }
        };
        let m = match msg {
            None => return End::ClientClosed,
            Some(Err(e)) => {
                fail(&mut ws, e, traffic).await;
                return End::ClientClosed;
            }
            Some(Ok(m)) => m,
        };
        if m.is_pong() {
            awaiting_pong = false;
            continue;
        }
        // tokio-websockets answers pings and close frames by itself; after
        // a close frame the stream ends.
        if !(m.is_text() || m.is_binary()) {
            continue;
        }
        interrupts.touch();
        traffic.request();
        let n = m.as_payload().len();
        traffic.received(n);
        let result = match session.as_mut() {
            None => {
                // The message goes back as it came: same type, same payload,
                // no copy.
                let sent = ws.send(m).await.map(|_| Flow::Continue);
                traffic.sent(n);
                sent
            }
            Some(s) => {
                let flow = handle_request(s.as_mut(), m.as_payload(), true);
                send_replies(&mut ws, s.as_mut(), &mut out, traffic)
                    .await
                    .map(|_| flow)
            }
        };
        match result {
            Ok(Flow::Continue) => interrupts.touch(),
            Ok(Flow::Close) => {
                close(&mut ws, CloseCode::NORMAL_CLOSURE, "STOP").await;
                return End::ServiceClosed;
            }
            Err(_) => return End::ClientClosed,
        }
    }
}

/// Sends every queued reply as a text message, flushing once at the end.
async fn send_replies<S>(
    ws: &mut Ws<S>,
    session: &mut dyn Session,
    (reply, out): &mut (Vec<u8>, BytesMut),
    traffic: &mut Traffic<'_>,
) -> Result<(), WsError>
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
        let payload: Payload = out.split().freeze().into();
        ws.feed(Message::text(payload)).await?;
        any = true;
    }
    if any {
        ws.flush().await?;
    }
    Ok(())
}

/// Counts a protocol failure and lets the close frame tokio-websockets
/// queued for it (1002, 1007 or 1009) reach the peer.
async fn fail<S>(ws: &mut Ws<S>, e: WsError, traffic: &mut Traffic<'_>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match &e {
        WsError::Protocol(ProtocolError::InvalidUtf8) => traffic.counters.error(ErrorKind::Utf8),
        WsError::PayloadTooLong { .. } => traffic.counters.limit_hit(Limit::MaxMessage),
        WsError::Protocol(_) => traffic.counters.error(ErrorKind::Protocol),
        _ => {
            tracing::debug!(error = %e, "websocket ended");
            return;
        }
    }
    tracing::debug!(error = %e, "closing websocket");
    let _ = tokio::time::timeout(CLOSE_WAIT, async {
        // A message that grows over the limit fragment by fragment is
        // reported without a close frame (only a single over-size frame
        // gets one queued): send it here. When one is already queued the
        // stream is no longer open and this send is refused, harmlessly.
        if matches!(e, WsError::PayloadTooLong { .. }) {
            let reason = "message too big (--max-message)";
            let _ = ws
                .send(Message::close(Some(CloseCode::MESSAGE_TOO_BIG), reason))
                .await;
        }
        // Polling the stream again writes the queued close frame and ends it.
        while ws.next().await.is_some() {}
    })
    .await;
}

/// Sends a close frame and waits (briefly) for the peer's answer, so that
/// the close handshake completes cleanly.
async fn close<S>(ws: &mut Ws<S>, code: CloseCode, reason: &str)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let _ = tokio::time::timeout(CLOSE_WAIT, async {
        if ws.send(Message::close(Some(code), reason)).await.is_err() {
            return;
        }
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
}
