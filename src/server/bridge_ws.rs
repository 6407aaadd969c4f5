//! A bridge whose FROM is WebSocket (`ws://`, `wss://`), as websockify
//! and `websocat ws-l:` are: each client's opening handshake is checked as
//! every WebSocket listener checks it (origin policy, version, key;
//! compression as the server agrees to it), and TO is dialled before the
//! handshake is answered: `101` once TO is reached, `502 Bad Gateway` when
//! it cannot be within `--connect-timeout`, so that a browser sees the
//! failure as a failed connection rather than as one that opens and drops.
//!
//! The subprotocols the client asks for (`Sec-WebSocket-Protocol`) are
//! offered to a WebSocket TO, and the client is answered with what TO
//! chose, or with none when TO chose none: the subprotocol is the two
//! ends' agreement, and the bridge only carries their messages.
//! Toward any other TO the bridge agrees to the client's first choice
//! itself, as every WebSocket listener does.
//!
//! The whole session (dial, relay, log line) runs in one task of the
//! server's tracker; the HTTP side only waits for the dial's verdict to
//! choose its answer.

use std::net::SocketAddr;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Request, StatusCode};
use tokio::sync::oneshot;

use super::bridge::{Bridge, Session};
use super::handshake::{Accepted, HttpResponse, accept};
use super::metrics::Transport;
use super::peer::Peer;
use super::response::text;
use super::shared::Shared;
use crate::relay::Side;
use crate::relay::proxy::Origin;
use crate::relay::ws::WsPeer;

/// Who a WebSocket client of a bridge is: what the session is logged and
/// counted as, and where it came from for a PROXY header.
#[derive(Clone, Copy)]
pub struct Client {
    pub peer: Peer,
    /// The address the client reached.
    pub local: Option<SocketAddr>,
    pub transport: Transport,
}

/// Answers a WebSocket handshake on a bridge's FROM: `101` and the relay
/// once TO is reached, `502` when it is not, `503` over
/// `--max-connections`, or the refusal of the handshake itself (403, 400).
pub async fn upgrade(
    mut req: Request<Incoming>,
    bridge: Arc<Bridge>,
    shared: Arc<Shared>,
    client: Client,
) -> HttpResponse {
    let Client {
        peer, transport, ..
    } = client;
    let protocols = offered_protocols(req.headers());
    // A WebSocket TO answers the client's subprotocols itself.
    let answers = bridge.upstream.is_websocket();
    let Accepted { response, upgrade } = match accept(&mut req, &shared, &peer) {
        Ok(accepted) => accepted,
        Err(refused) => return *refused,
    };
    let Some(permit) = shared.admit() else {
        tracing::warn!(%peer, transport = transport.label(), service = "bridge", "refused: --max-connections reached");
        bridge.counters.get(transport).refused();
        return text(StatusCode::SERVICE_UNAVAILABLE, shared.busy_message());
    };
    let origin = Origin {
        client: match peer {
            Peer::Ip(a) => Some(a),
            _ => None,
        },
        local: client.local,
        datagram: false,
    };
    let (verdict, dialled) = oneshot::channel();
    let sh = shared.clone();
    shared.tracker.spawn(async move {
        let _permit = permit;
        let session = Session::open(&bridge, &sh, peer, transport);
        let upstream = match session.dial(&origin, protocols).await {
            Ok(reached) => reached,
            Err(e) => {
                let _ = verdict.send(None);
                session.unreachable(e);
                return;
            }
        };
        // Nobody waits when the client went away meanwhile; the upgrade
        // then fails, and says so.
        let _ = verdict.send(Some(upstream.protocol));
        let Some(ws) = upgrade.websocket(&sh.websocket).await else {
            session.gone();
            return;
        };
        let client = WsPeer::new(ws, sh.limits.max_message);
        session
            .finish(Side::Messages(Box::new(client)), Ok(upstream.side))
            .await;
    });
    match dialled.await {
        Ok(Some(chosen)) if answers => with_protocol(response, chosen),
        Ok(Some(_)) => response,
        _ => text(
            StatusCode::BAD_GATEWAY,
            "the bridge cannot reach its upstream (its log says why)\n",
        ),
    }
}

/// Every subprotocol the client asks for, in its order, as one
/// comma-separated list (the header may come more than once).
fn offered_protocols(headers: &HeaderMap) -> Option<HeaderValue> {
    let asked: Vec<&str> = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    if asked.is_empty() {
        return None;
    }
    HeaderValue::from_str(&asked.join(", ")).ok()
}

/// The 101 answer with the subprotocol a WebSocket TO chose, or without
/// one when it chose none.
fn with_protocol(mut response: HttpResponse, chosen: Option<String>) -> HttpResponse {
    let h = response.headers_mut();
    match chosen.and_then(|p| HeaderValue::from_str(&p).ok()) {
        Some(p) => h.insert(header::SEC_WEBSOCKET_PROTOCOL, p),
        None => h.remove(header::SEC_WEBSOCKET_PROTOCOL),
    };
    response
}
