//! One WebSocket session (RFC 6455, via tokio-tungstenite) after the HTTP
//! upgrade.
//!
//! Each message is one request. Echo sends every message back with the same
//! type and payload; line services answer with text messages. Protocol
//! failures close the session with the code RFC 6455 assigns: 1002 for a
//! protocol error, 1007 for invalid UTF-8 in a text message, 1009 for a
//! message over `--max-message`. An idle session is closed with 1000
//! (`idle timeout`) and shutdown closes every session with 1001.
//!
//! tokio-tungstenite was chosen over fastwebsockets because its stream API is
//! cancel-safe (reading can wait beside the idle timer, the ping
//! timer and shutdown without losing half-read frames) and because it limits
//! the size of a whole fragmented message, not only of single frames; see
//! BENCHMARKS.md for the measurements.

use std::time::Duration;

use bytes::BytesMut;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};

use super::guard::{Event, Guard};
use super::metrics::{ErrorKind, Limit, Tally};
use super::stream::End;
use super::{Mounted, Runtime};
use crate::service::{Flow, Session, handle_request};

/// How long to wait for the peer's answer to our close frame.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// The tungstenite settings for a server session under these limits.
pub fn config(max_message: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        // Small buffers: an idle session should cost little memory. The
        // buffers grow on demand, up to the message limit. tungstenite
        // zero-fills the whole read buffer on the first read (so it is
        // resident while idle) and never reads more than this at once, so
        // the size trades idle memory against system calls for large
        // messages: 4 KiB costs ~7 KiB RSS per idle session and 16 reads per
        // 64 KiB message; 16 KiB measured ~19 KiB idle and brought 64 KiB
        // echo to the tokio-tungstenite reference's CPU (BENCHMARKS.md).
        .read_buffer_size(4096)
        .write_buffer_size(16 * 1024)
        .max_write_buffer_size(max_message.saturating_mul(2).max(64 * 1024))
        .max_message_size(Some(max_message))
        .max_frame_size(Some(max_message))
}

type Ws<S> = WebSocketStream<S>;

pub async fn serve<S>(io: S, mounted: &Mounted, rt: &Runtime, tally: &mut Tally<'_>) -> End
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut ws =
        WebSocketStream::from_raw_socket(io, Role::Server, Some(config(rt.limits.max_message)))
            .await;
    let mut session = mounted.open_session();
    let ping_every = rt.limits.ping_interval;
    let mut guard =
        Guard::new(Some(rt.limits.idle_timeout), rt.token.cancelled()).with_ping(ping_every);
    // The reply being produced, and the buffer replies are sent from (kept
    // for the whole session so that replying allocates nothing per request).
    let mut buffers = (Vec::new(), BytesMut::new());

    if let Some(s) = session.as_mut() {
        let flow = s.open();
        if send_replies(&mut ws, s.as_mut(), &mut buffers, tally)
            .await
            .is_err()
        {
            return End::ClientClosed;
        }
        if flow == Flow::Close {
            close(&mut ws, CloseCode::Normal, "bye").await;
            return End::ServiceClosed;
        }
    }

    let mut awaiting_pong = false;

    loop {
        let msg = match guard.until(ws.next()).await {
            Ok(m) => m,
            Err(Event::Idle) => {
                close(&mut ws, CloseCode::Normal, "idle timeout").await;
                return End::Idle;
            }
            Err(Event::Shutdown) => {
                close(&mut ws, CloseCode::Away, "server shutting down").await;
                return End::Shutdown;
            }
            Err(Event::Ping) => {
                if awaiting_pong {
                    tracing::debug!("no pong since the last ping; dropping the peer");
                    return End::Idle;
                }
                awaiting_pong = true;
                if ws.send(Message::Ping(Default::default())).await.is_err() {
                    return End::ClientClosed;
                }
                continue;
            }
        };
        let result = match msg {
            None => return End::ClientClosed,
            Some(Err(e)) => {
                fail(&mut ws, e, tally).await;
                return End::ClientClosed;
            }
            Some(Ok(m)) => match m {
                Message::Pong(_) => {
                    awaiting_pong = false;
                    continue;
                }
                // tungstenite answers pings and close frames by itself.
                Message::Ping(_) | Message::Close(_) | Message::Frame(_) => continue,
                Message::Text(_) | Message::Binary(_) => {
                    guard.touch();
                    tally.request();
                    tally.received(m.len());
                    match session.as_mut() {
                        None => {
                            let n = m.len();
                            let sent = ws.send(m).await.map(|_| Flow::Continue);
                            tally.sent(n);
                            sent
                        }
                        Some(s) => {
                            let payload = match &m {
                                Message::Text(t) => t.as_bytes(),
                                Message::Binary(b) => b.as_ref(),
                                _ => &[],
                            };
                            let flow = handle_request(s.as_mut(), payload, true);
                            send_replies(&mut ws, s.as_mut(), &mut buffers, tally)
                                .await
                                .map(|_| flow)
                        }
                    }
                }
            },
        };
        match result {
            Ok(Flow::Continue) => guard.touch(),
            Ok(Flow::Close) => {
                close(&mut ws, CloseCode::Normal, "STOP").await;
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
    tally: &mut Tally<'_>,
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
        out.extend_from_slice(reply);
        let len = out.len();
        // Replies are produced from text (numbers, times, ERR messages); a
        // lossy fallback keeps anything else panic-free.
        let text = Utf8Bytes::try_from(out.split().freeze())
            .unwrap_or_else(|_| String::from_utf8_lossy(reply).into_owned().into());
        tally.sent(len);
        ws.feed(Message::Text(text)).await?;
        any = true;
    }
    if any {
        ws.flush().await?;
    }
    Ok(())
}

/// Closes with the code RFC 6455 gives to the failure, when one applies.
async fn fail<S>(ws: &mut Ws<S>, e: WsError, tally: &mut Tally<'_>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (code, reason) = match &e {
        WsError::Utf8(_) => (CloseCode::Invalid, "invalid UTF-8 in a text message"),
        WsError::Capacity(_) => (CloseCode::Size, "message too big (--max-message)"),
        WsError::Protocol(_) => (CloseCode::Protocol, "protocol error"),
        _ => {
            tracing::debug!(error = %e, "websocket ended");
            return;
        }
    };
    match code {
        CloseCode::Invalid => tally.counters.error(ErrorKind::Utf8),
        CloseCode::Size => tally.counters.limit_hit(Limit::MaxMessage),
        _ => tally.counters.error(ErrorKind::Protocol),
    }
    tracing::debug!(error = %e, code = u16::from(code), "closing websocket");
    close(ws, code, reason).await;
}

/// Sends a close frame and waits (briefly) for the peer's answer, so that
/// the close handshake completes cleanly.
async fn close<S>(ws: &mut Ws<S>, code: CloseCode, reason: &str)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let frame = CloseFrame {
        code,
        reason: reason.to_owned().into(),
    };
    let _ = tokio::time::timeout(CLOSE_WAIT, async {
        if ws.close(Some(frame)).await.is_err() {
            return;
        }
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
}
