//! The WebSocket opening handshake (RFC 6455 §4.2) on an HTTP listener:
//! checks the request (origin policy, version, key, method), agrees on
//! permessage-deflate (RFC 7692), answers `101 Switching Protocols`, and
//! hands whatever the route mounts an [`Upgrade`]: the WebSocket, with the
//! agreed extension in force, once hyper gives the connection over.
//!
//! [`upgrade`] mounts a service; anything else that speaks WebSocket on a
//! route (a relay) takes the same [`accept`] and [`Upgrade`].

use std::sync::Arc;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::upgrade::OnUpgrade;
use hyper::{Method, Request, Response, StatusCode};

use super::metrics::Transport;
use super::mounted::Mounted;
use super::origin::origin_allowed;
use super::peer::Peer;
use super::response::text;
use super::session::{SessionLog, Traffic};
use super::shared::Shared;
use super::upgraded::{ServerIo, reads_wait_alone, server_io};
use super::ws;
use crate::websocket::{self, Role, WebSocket, deflate};

/// A server-side WebSocket: an upgraded HTTP connection.
pub type ServerSocket = WebSocket<ServerIo>;

/// An HTTP answer of a WebSocket listener.
pub type HttpResponse = Response<Full<Bytes>>;

/// A handshake the server agreed to: the 101 answer to send, and the
/// upgrade it starts.
pub struct Accepted {
    pub response: HttpResponse,
    pub upgrade: Upgrade,
}

/// A handshake the server answered with 101: what it takes to get the
/// WebSocket once hyper hands the connection over.
pub struct Upgrade {
    on_upgrade: OnUpgrade,
    /// The permessage-deflate parameters agreed (`None`: uncompressed).
    pub compression: Option<deflate::Params>,
    peer: Peer,
}

impl Upgrade {
    /// The WebSocket, once the 101 answer is out and hyper hands the
    /// connection over; `None` (logged) when the client went away first.
    pub async fn websocket(self, config: &websocket::Config) -> Option<ServerSocket> {
        let peer = self.peer;
        let upgraded = match self.on_upgrade.await {
            Ok(u) => u,
            Err(e) => {
                tracing::debug!(%peer, error = %e, "upgrade failed");
                return None;
            }
        };
        let io = server_io(upgraded);
        let direct = reads_wait_alone(&io);
        match WebSocket::new(io, Role::Server, self.compression.as_ref(), config) {
            Ok(mut ws) => {
                ws.set_direct_read_wakeups(direct);
                Some(ws)
            }
            Err(e) => {
                tracing::warn!(%peer, error = %e, "cannot run the agreed WebSocket extension");
                None
            }
        }
    }
}

/// Checks a handshake request and answers it: the 101 response and the
/// [`Upgrade`] to wait on, or the refusal (403, 400) to send instead.
pub fn accept(
    req: &mut Request<Incoming>,
    shared: &Shared,
    peer: &Peer,
) -> Result<Accepted, Box<HttpResponse>> {
    let headers = req.headers();
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        if !origin_allowed(origin, host, &shared.limits.allowed_origins) {
            tracing::warn!(%peer, %origin, "refused WebSocket handshake from another origin (--allowed-origin)");
            return Err(Box::new(text(
                StatusCode::FORBIDDEN,
                format!("origin {origin} is not allowed here (see --allowed-origin)\n"),
            )));
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
        return Err(Box::new(r));
    }
    let bad = |why: &'static str| Err(Box::new(text(StatusCode::BAD_REQUEST, why)));
    if req.version() != hyper::Version::HTTP_11 {
        return bad("a WebSocket handshake needs HTTP/1.1\n");
    }
    let Some(key) = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .filter(|k| valid_key(k.as_bytes()))
    else {
        return bad("missing or invalid Sec-WebSocket-Key header (base64 of 16 bytes)\n");
    };
    if req.method() != Method::GET {
        return bad("a WebSocket handshake must be a GET request\n");
    }
    let Ok(accept) = HeaderValue::from_str(&websocket::accept_key(key.as_bytes())) else {
        return bad("invalid Sec-WebSocket-Key header\n");
    };
    // duplex services speak no particular subprotocol; agreeing to the
    // client's first choice keeps clients that insist on one (browsers
    // fail a handshake that ignores the protocol they asked for) working.
    let protocol = headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').map(str::trim).find(|p| !p.is_empty()))
        .and_then(|p| HeaderValue::from_str(p).ok());
    let compression = shared.compression.as_ref().and_then(|policy| {
        let offers = headers.get_all(header::SEC_WEBSOCKET_EXTENSIONS);
        deflate::agree(offers.iter().filter_map(|v| v.to_str().ok()), policy)
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
    if let Some(agreed) = &compression
        && let Ok(v) = HeaderValue::from_str(&agreed.to_string())
    {
        h.insert(header::SEC_WEBSOCKET_EXTENSIONS, v);
    }
    let upgrade = Upgrade {
        on_upgrade: hyper::upgrade::on(req),
        compression,
        peer: *peer,
    };
    Ok(Accepted {
        response: r,
        upgrade,
    })
}

/// Answers a WebSocket handshake for a mounted service: takes a session
/// slot, and starts the session once hyper hands over the connection.
pub fn upgrade(
    mut req: Request<Incoming>,
    mounted: Arc<Mounted>,
    shared: &Arc<Shared>,
    peer: &Peer,
    transport: Transport,
) -> HttpResponse {
    let Accepted { response, upgrade } = match accept(&mut req, shared, peer) {
        Ok(accepted) => accepted,
        Err(refused) => return *refused,
    };
    let Some(permit) = shared.admit() else {
        tracing::warn!(%peer, "refused WebSocket session: --max-connections reached");
        mounted.counters.get(transport).refused();
        return text(StatusCode::SERVICE_UNAVAILABLE, shared.busy_message());
    };
    let (shared2, peer) = (shared.clone(), *peer);
    shared.tracker.spawn(async move {
        let Some(socket) = upgrade.websocket(&shared2.websocket).await else {
            return;
        };
        let (log, session) = SessionLog::open(&shared2, &mounted, transport, peer).await;
        let mut traffic = Traffic::new(log.counters);
        let end = ws::serve(socket, session, &shared2, &mut traffic).await;
        log.close(&traffic, &Ok(end));
        drop(permit);
    });
    response
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

impl Upgrade {
    /// The upgraded connection itself and the compression agreed, once
    /// the 101 answer is out, for a caller that runs the WebSocket its own
    /// way (`connect --listen`); `None` (logged) when the client went away
    /// first.
    pub async fn connection(self) -> Option<(ServerIo, Option<deflate::Params>)> {
        match self.on_upgrade.await {
            Ok(u) => Some((server_io(u), self.compression)),
            Err(e) => {
                tracing::debug!(peer = %self.peer, error = %e, "upgrade failed");
                None
            }
        }
    }
}
