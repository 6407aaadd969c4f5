//! What duplex's WebSocket session must do after a read error on yawc,
//! shared by the yawc examples (`ref_ws_yawc`, `autobahn_client_yawc`).

use futures_util::{FutureExt, SinkExt};
use tokio::io::{AsyncRead, AsyncWrite};
use yawc::close::CloseCode;
use yawc::{Frame, WebSocket, WebSocketError};

/// Ends a connection after a read error with the close code RFC 6455 asks
/// for. yawc queues a close frame for the errors its frame layer finds
/// (written by the next read, which then returns `ConnectionClosed` at
/// once) but none for those found while assembling a message (invalid
/// UTF-8, a fragment out of sequence): then the close is sent here.
pub async fn fail<S: AsyncRead + AsyncWrite + Unpin>(ws: &mut WebSocket<S>, e: WebSocketError) {
    let (code, reason) = match e {
        WebSocketError::ConnectionClosed | WebSocketError::IoError(_) => return,
        // yawc answers an unknown opcode with 1003; RFC 6455 and Autobahn
        // want 1002 or a dropped connection: drop it.
        WebSocketError::InvalidOpCode(_) => return,
        WebSocketError::FrameTooLarge => (CloseCode::Size, "message too big"),
        WebSocketError::InvalidUTF8 => (CloseCode::Invalid, "invalid UTF-8"),
        _ => (CloseCode::Protocol, "protocol error"),
    };
    let queued = matches!(
        ws.next_frame().now_or_never(),
        Some(Err(WebSocketError::ConnectionClosed))
    );
    if !queued {
        let close = ws.send(Frame::close(code, reason));
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), close).await;
    }
}
