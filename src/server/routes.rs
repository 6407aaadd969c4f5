//! What each HTTP request to a WebSocket listener gets. One listener serves
//! every WebSocket path of its host and port:
//!
//! | request                                   | answer                         |
//! |-------------------------------------------|--------------------------------|
//! | upgrade to a mounted path                 | 101, then the service          |
//! | upgrade while `--max-connections` are open| 503                            |
//! | plain `GET /` (even if `/` is mounted)    | the web console                |
//! | upgrade to a bridge's path (any, for `/`) | 101 and the relay, or 502      |
//! | `GET /healthz`                            | `200 ok`                       |
//! | `GET /readyz`                             | `200 ok`; 503 while the `--counter-store` does not answer |
//! | `GET /metrics`                            | Prometheus text                |
//! | plain request to a mounted path           | 426 Upgrade Required           |
//! | anything else                             | 404 (405 for non-GET methods)  |
//!
//! The `--metrics` listener is the same with no WebSocket paths.

use std::collections::BTreeMap;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use tokio::sync::Semaphore;

use super::bridge::Bridge;
use super::handshake::upgrade;
use super::metrics::Transport;
use super::mounted::Mounted;
use super::peer::Peer;
use super::response::text;
use super::shared::Shared;

/// The web console, embedded in the binary (no external resources).
const CONSOLE: &str = include_str!("console.html");
/// Where the console expects the JSON list of this listener's services.
const SERVICES_PLACEHOLDER: &str = "/*SERVICES*/[]";

/// The WebSocket services of one HTTP listener, by path.
pub struct Routes {
    pub paths: BTreeMap<String, Arc<Mounted>>,
    /// The console page with this listener's services filled in, built once.
    console: Bytes,
    /// Open HTTP connections (upgraded or not), at most `--max-connections`.
    pub http_connections: Arc<Semaphore>,
    /// A bridge's WebSocket FROM: upgrades to its path (to any path, for
    /// `/`) are relayed, as websockify relays them.
    pub bridge: Option<(String, Arc<Bridge>)>,
}

impl Routes {
    pub fn new(paths: BTreeMap<String, Arc<Mounted>>, max_connections: usize) -> Routes {
        let list: Vec<serde_json::Value> = paths
            .iter()
            .map(|(path, m)| serde_json::json!({ "path": path, "service": m.name() }))
            .collect();
        let json = serde_json::Value::Array(list)
            .to_string()
            .replace("</", "<\\/");
        let console = Bytes::from(CONSOLE.replace(SERVICES_PLACEHOLDER, &json));
        Routes {
            paths,
            console,
            http_connections: Arc::new(Semaphore::new(max_connections)),
            bridge: None,
        }
    }

    /// The routes of a bridge's WebSocket FROM at `path`.
    pub fn bridge(path: String, bridge: Arc<Bridge>, max_connections: usize) -> Routes {
        Routes {
            bridge: Some((path, bridge)),
            ..Routes::new(BTreeMap::new(), max_connections)
        }
    }

    /// The bridge that takes `req`: an upgrade to the bridge's path.
    pub fn bridge_for(&self, req: &Request<Incoming>) -> Option<&Arc<Bridge>> {
        let (path, bridge) = self.bridge.as_ref()?;
        let matches = path == "/" || path == req.uri().path();
        (matches && is_upgrade(req)).then_some(bridge)
    }
}

/// True when the request asks for a WebSocket upgrade.
fn is_upgrade(req: &Request<Incoming>) -> bool {
    let has_token = |name: header::HeaderName, token: &str| {
        req.headers().get_all(name).iter().any(|v| {
            v.to_str()
                .map(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
                .unwrap_or(false)
        })
    };
    has_token(header::CONNECTION, "upgrade") && has_token(header::UPGRADE, "websocket")
}

/// The answer to one request.
pub fn route(
    req: Request<Incoming>,
    routes: &Routes,
    shared: &Arc<Shared>,
    peer: &Peer,
    transport: Transport,
) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    let mounted = routes.paths.get(&path);
    if is_upgrade(&req) {
        return match mounted {
            Some(m) => upgrade(req, m.clone(), shared, peer, transport),
            None => text(
                StatusCode::NOT_FOUND,
                format!("no WebSocket service at {path}\n"),
            ),
        };
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "only GET is served here\n");
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    match path.as_str() {
        "/" if routes.bridge.is_some() => text(
            StatusCode::UPGRADE_REQUIRED,
            "a WebSocket bridge: connect with a WebSocket client\n",
        ),
        "/" => {
            let mut r = Response::new(Full::new(routes.console.clone()));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        "/healthz" => text(StatusCode::OK, "ok\n"),
        "/readyz" if shared.ready() => text(StatusCode::OK, "ok\n"),
        "/readyz" => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "counter store unavailable\n",
        ),
        "/metrics" => {
            let mut r = text(StatusCode::OK, shared.metrics.render());
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            r
        }
        _ if mounted.is_some() || routes.bridge.as_ref().is_some_and(|(p, _)| *p == path) => {
            let mut r = text(
                StatusCode::UPGRADE_REQUIRED,
                format!(
                    "{path} is a WebSocket endpoint: connect with a WebSocket client (e.g. duplex connect ws://HOST{path})\n"
                ),
            );
            r.headers_mut()
                .insert(header::UPGRADE, HeaderValue::from_static("websocket"));
            r.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
            r
        }
        _ => text(StatusCode::NOT_FOUND, format!("nothing at {path}\n")),
    }
}
