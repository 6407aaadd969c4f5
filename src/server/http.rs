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

use super::metrics::{Tally, Transport};
use super::{Mounted, Peer, Runtime, SessionLog, ws};

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
pub async fn serve_connection<S>(
    mut stream: S,
    peer: Peer,
    routes: Arc<Routes>,
    rt: Arc<Runtime>,
    transport: Transport,
) where
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
        let (routes, rt) = (routes.clone(), rt.clone());
        hyper::service::service_fn(move |req| {
            let (routes, rt) = (routes.clone(), rt.clone());
            async move { Ok::<_, Infallible>(route(req, &routes, &rt, &peer, transport)) }
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
    peer: &Peer,
    transport: Transport,
) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    let mounted = routes.paths.get(&path);
    if is_upgrade(&req) {
        return match mounted {
            Some(m) => upgrade(req, m.clone(), rt, peer, transport),
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
        "/metrics" => {
            let mut r = text(StatusCode::OK, rt.metrics.render());
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            r
        }
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
    peer: &Peer,
    transport: Transport,
) -> Response<Full<Bytes>> {
    let headers = req.headers();
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        if !origin_allowed(origin, host, &rt.limits.allowed_origins) {
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
    let Some(permit) = rt.admit() else {
        tracing::warn!(%peer, "refused WebSocket session: --max-connections reached");
        mounted.counters.get(transport).refused();
        return text(StatusCode::SERVICE_UNAVAILABLE, rt.busy_message());
    };
    let Ok(accept) = HeaderValue::from_str(&accept) else {
        return text(
            StatusCode::BAD_REQUEST,
            "invalid Sec-WebSocket-Key header\n",
        );
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    let (rt2, peer) = (rt.clone(), *peer);
    rt.tracker.spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(u) => u,
            Err(e) => {
                tracing::debug!(%peer, error = %e, "upgrade failed");
                return;
            }
        };
        let log = SessionLog::open(&rt2, &mounted, transport, peer);
        let mut tally = Tally::new(log.counters);
        let end = ws::serve(TokioIo::new(upgraded), &mounted, &rt2, &mut tally).await;
        log.close(&tally, &Ok(end));
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

/// The origin policy for browser handshakes (cross-site WebSocket
/// hijacking defence).
///
/// A request without `Origin` comes from a non-browser client and is always
/// allowed. A browser request is allowed when its origin is the listener
/// itself (same host and port as the `Host` header), or matches an
/// `--allowed-origin` entry: `*` (anything), a full origin
/// (`https://app.example.com`), a host (`app.example.com`, any scheme and
/// port) or a wildcard host (`*.example.com`). With no `--allowed-origin`,
/// pages served from a loopback host (`localhost`, `127.0.0.0/8`, `[::1]`)
/// are allowed too, which keeps local development convenient while a page on
/// any other site is refused.
pub fn origin_allowed(origin: &str, host: Option<&str>, allowed: &[String]) -> bool {
    let origin = origin.trim().to_ascii_lowercase();
    if allowed.iter().any(|a| a == "*") {
        return true;
    }
    let Some((_, authority)) = origin.split_once("://") else {
        // "null" (sandboxed frames, file:// pages) and garbage.
        return false;
    };
    if host.is_some_and(|h| h.trim().eq_ignore_ascii_case(authority)) {
        return true;
    }
    let origin_host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    if allowed.is_empty() {
        return origin_host == "localhost"
            || origin_host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
    }
    allowed.iter().any(|a| {
        let a = a.trim().to_ascii_lowercase();
        if a.contains("://") {
            a == origin
        } else if let Some(suffix) = a.strip_prefix("*.") {
            origin_host.len() > suffix.len() + 1
                && origin_host.ends_with(suffix)
                && origin_host.as_bytes()[origin_host.len() - suffix.len() - 1] == b'.'
        } else {
            a == origin_host
        }
    })
}

#[cfg(test)]
mod tests {
    use super::origin_allowed;

    #[test]
    fn origin_policy() {
        let none: Vec<String> = Vec::new();
        // Same origin, loopback pages by default; other sites refused.
        assert!(origin_allowed(
            "http://127.0.0.1:8080",
            Some("127.0.0.1:8080"),
            &none
        ));
        assert!(origin_allowed(
            "http://example.com",
            Some("example.com"),
            &none
        ));
        assert!(origin_allowed(
            "http://localhost:3000",
            Some("127.0.0.1:8080"),
            &none
        ));
        assert!(origin_allowed(
            "http://[::1]:3000",
            Some("127.0.0.1:8080"),
            &none
        ));
        assert!(!origin_allowed(
            "https://evil.example",
            Some("127.0.0.1:8080"),
            &none
        ));
        assert!(!origin_allowed("null", Some("127.0.0.1:8080"), &none));
        // An explicit list replaces the loopback convenience.
        let list = vec![
            "*.example.com".to_string(),
            "https://app.test".to_string(),
            "other.org".to_string(),
        ];
        assert!(origin_allowed("https://a.example.com", None, &list));
        assert!(origin_allowed("http://b.a.example.com:81", None, &list));
        assert!(!origin_allowed("https://example.com", None, &list));
        assert!(!origin_allowed("https://badexample.com", None, &list));
        assert!(origin_allowed("https://app.test", None, &list));
        assert!(!origin_allowed("http://app.test", None, &list));
        assert!(origin_allowed("http://other.org:9000", None, &list));
        assert!(!origin_allowed("http://localhost:3000", None, &list));
        assert!(origin_allowed("https://anything", None, &["*".to_string()]));
    }
}
