//! HTTP on WebSocket listeners: routing, the web console, health checks and
//! the upgrade to WebSocket.
//!
//! One listener serves every WebSocket path of its host and port. A request
//! is answered as follows:
//!
//! | request                                   | answer                         |
//! |-------------------------------------------|--------------------------------|
//! | upgrade to a mounted path                 | 101, then the service          |
//! | upgrade while `--max-connections` are open| 503                            |
//! | plain `GET /` (even if `/` is mounted)    | the web console                |
//! | `GET /healthz`                            | `200 ok`                       |
//! | plain request to a mounted path           | 426 Upgrade Required           |
//! | anything else                             | 404 (405 for non-GET methods)  |
//!
//! Plain HTTP requests are not client sessions: they neither count for
//! `counter` nor hold a session slot. HTTP connections are limited separately
//! (as many as `--max-connections`), and the HTTP phase of a connection may
//! last at most `--idle-timeout`, so idle keep-alive connections cannot pile
//! up.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use super::{Mounted, Runtime, ws};

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
    http_connections: Arc<Semaphore>,
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
        }
    }
}

/// Serves one TCP (or TLS) connection of a WebSocket listener.
pub async fn serve_connection<S>(mut stream: S, peer: String, routes: Arc<Routes>, rt: Arc<Runtime>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Ok(_http_permit) = routes.http_connections.clone().try_acquire_owned() else {
        tracing::warn!(%peer, "refused HTTP connection: --max-connections reached");
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            stream.write_all(BUSY_RESPONSE).await?;
            stream.shutdown().await
        })
        .await;
        return;
    };
    let service = {
        let (routes, rt, peer) = (routes.clone(), rt.clone(), peer.clone());
        hyper::service::service_fn(move |req| {
            let (routes, rt, peer) = (routes.clone(), rt.clone(), peer.clone());
            async move { Ok::<_, Infallible>(route(req, &routes, &rt, &peer)) }
        })
    };
    let header_timeout = rt.limits.idle_timeout.min(Duration::from_secs(30));
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_buf_size(64 * 1024)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(conn);
    let idle = tokio::time::sleep(rt.limits.idle_timeout);
    tokio::pin!(idle);
    let mut shutting_down = false;
    loop {
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(%peer, error = %e, "http connection ended");
                }
                return;
            }
            _ = rt.token.cancelled(), if !shutting_down => {
                shutting_down = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = &mut idle => {
                tracing::debug!(%peer, "http connection idle; closing");
                return;
            }
        }
    }
}

const BUSY_RESPONSE: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\ncontent-length: 41\r\nconnection: close\r\n\r\nserver busy: too many connections, retry\n";

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
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

fn route(
    req: Request<Incoming>,
    routes: &Routes,
    rt: &Arc<Runtime>,
    peer: &str,
) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    let mounted = routes.paths.get(&path);
    if is_upgrade(&req) {
        return match mounted {
            Some(m) => upgrade(req, m.clone(), rt, peer),
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
        _ if mounted.is_some() => {
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

/// Answers a WebSocket handshake and starts the session once hyper hands
/// over the connection.
fn upgrade(
    mut req: Request<Incoming>,
    mounted: Arc<Mounted>,
    rt: &Arc<Runtime>,
    peer: &str,
) -> Response<Full<Bytes>> {
    let headers = req.headers();
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
    let Some(key) = headers.get(header::SEC_WEBSOCKET_KEY) else {
        return text(
            StatusCode::BAD_REQUEST,
            "missing Sec-WebSocket-Key header\n",
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
    let Some(permit) = rt.admit() else {
        tracing::warn!(%peer, "refused WebSocket session: --max-connections reached");
        return text(StatusCode::SERVICE_UNAVAILABLE, rt.busy_message());
    };
    let Ok(accept) = HeaderValue::from_str(&accept) else {
        return text(
            StatusCode::BAD_REQUEST,
            "invalid Sec-WebSocket-Key header\n",
        );
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    let (rt2, peer) = (rt.clone(), peer.to_string());
    rt.tracker.spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(u) => u,
            Err(e) => {
                tracing::debug!(%peer, error = %e, "upgrade failed");
                return;
            }
        };
        rt2.stats.client_connected();
        tracing::debug!(%peer, service = mounted.name(), "websocket session opened");
        let end = ws::serve(TokioIo::new(upgraded), &mounted, &rt2).await;
        tracing::debug!(%peer, reason = ?end, "websocket session closed");
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
