//! The WebSocket opening handshake (RFC 6455 §4.2) on an HTTP listener:
//! checks the request (origin policy, version, key, method), takes a session
//! slot, answers `101 Switching Protocols` and starts the session once hyper
//! hands the connection over.

use std::sync::Arc;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use super::metrics::Transport;
use super::mounted::Mounted;
use super::origin::origin_allowed;
use super::peer::Peer;
use super::response::text;
use super::session::{SessionLog, Traffic};
use super::shared::Shared;
use super::ws;

/// Answers a WebSocket handshake and starts the session once hyper hands
/// over the connection.
pub fn upgrade(
    mut req: Request<Incoming>,
    mounted: Arc<Mounted>,
    shared: &Arc<Shared>,
    peer: &Peer,
    transport: Transport,
) -> Response<Full<Bytes>> {
    let headers = req.headers();
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        if !origin_allowed(origin, host, &shared.limits.allowed_origins) {
            tracing::warn!(%peer, %origin, "refused WebSocket handshake from another origin (--allowed-origin)");
            return text(
                StatusCode::FORBIDDEN,
                format!("origin {origin} is not allowed here (see --allowed-origin)\n"),
            );
        }
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .map(|v| v.as_bytes())
        != Some(b"13")
    {
        let mut r = text(
            StatusCode::BAD_REQUEST,
            "unsupported WebSocket version: this server speaks version 13\n",
        );
        r.headers_mut().insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
        return r;
    }
    if req.version() != hyper::Version::HTTP_11 {
        return text(
            StatusCode::BAD_REQUEST,
            "a WebSocket handshake needs HTTP/1.1\n",
        );
    }
    let Some(key) = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .filter(|k| valid_key(k.as_bytes()))
    else {
        return text(
            StatusCode::BAD_REQUEST,
            "missing or invalid Sec-WebSocket-Key header (base64 of 16 bytes)\n",
        );
    };
    if req.method() != Method::GET {
        return text(
            StatusCode::BAD_REQUEST,
            "a WebSocket handshake must be a GET request\n",
        );
    }
    let accept = derive_accept_key(key.as_bytes());
    // duplex services speak no particular subprotocol; agreeing to the
    // client's first choice keeps clients that insist on one (browsers
    // fail a handshake that ignores the protocol they asked for) working.
    let protocol = headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').map(str::trim).find(|p| !p.is_empty()))
        .and_then(|p| HeaderValue::from_str(p).ok());
    let Some(permit) = shared.admit() else {
        tracing::warn!(%peer, "refused WebSocket session: --max-connections reached");
        mounted.counters.get(transport).refused();
        return text(StatusCode::SERVICE_UNAVAILABLE, shared.busy_message());
    };
    let Ok(accept) = HeaderValue::from_str(&accept) else {
        return text(
            StatusCode::BAD_REQUEST,
            "invalid Sec-WebSocket-Key header\n",
        );
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    let (shared2, peer) = (shared.clone(), *peer);
    shared.tracker.spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(u) => u,
            Err(e) => {
                tracing::debug!(%peer, error = %e, "upgrade failed");
                return;
            }
        };
        let log = SessionLog::open(&shared2, &mounted, transport, peer).await;
        let mut traffic = Traffic::new(log.counters);
        let end = ws::serve(TokioIo::new(upgraded), &mounted, &shared2, &mut traffic).await;
        log.close(&traffic, &Ok(end));
        drop(permit);
    });
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    if let Some(p) = protocol {
        h.insert(header::SEC_WEBSOCKET_PROTOCOL, p);
    }
    r
}

/// RFC 6455 §4.1: the key is the base64 encoding of 16 random bytes, i.e.
/// 22 base64 characters followed by `==`.
fn valid_key(key: &[u8]) -> bool {
    key.len() == 24
        && key.ends_with(b"==")
        && key[..22]
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'+' || c == b'/')
}
