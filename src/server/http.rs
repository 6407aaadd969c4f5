//! One HTTP connection of a WebSocket (or `--metrics`) listener, on hyper:
//! requests are answered as [`super::routes`] says until the connection
//! ends, is upgraded to WebSocket, idles out or the server shuts down.
//!
//! Plain HTTP requests are not client sessions: they neither count for
//! `counter` nor hold a session slot. HTTP connections are limited separately
//! (as many as `--max-connections`), and the HTTP phase of a connection may
//! last at most `--idle-timeout`, so idle keep-alive connections cannot pile
//! up.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::bridge_ws;
use super::metrics::Transport;
use super::peer::Peer;
use super::response::BUSY;
use super::routes::{Routes, route};
use super::shared::Shared;

/// Serves one TCP (or TLS) connection of a WebSocket listener, accepted
/// at `local`.
pub async fn serve_connection<S>(
    mut stream: S,
    peer: Peer,
    local: Option<SocketAddr>,
    routes: Arc<Routes>,
    shared: Arc<Shared>,
    transport: Transport,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Ok(_http_permit) = routes.http_connections.clone().try_acquire_owned() else {
        tracing::warn!(%peer, "refused HTTP connection: --max-connections reached");
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            stream.write_all(BUSY).await?;
            stream.shutdown().await
        })
        .await;
        return;
    };
    let service = {
        let (routes, shared) = (routes.clone(), shared.clone());
        hyper::service::service_fn(move |req| {
            let (routes, shared) = (routes.clone(), shared.clone());
            async move {
                Ok::<_, Infallible>(match routes.bridge_for(&req) {
                    Some(bridge) => {
                        let client = bridge_ws::Client {
                            peer,
                            local,
                            transport,
                        };
                        bridge_ws::upgrade(req, bridge.clone(), shared, client).await
                    }
                    None => route(req, &routes, &shared, &peer, transport),
                })
            }
        })
    };
    let header_timeout = shared.limits.idle_timeout.min(Duration::from_secs(30));
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_buf_size(64 * 1024)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(conn);
    let idle = tokio::time::sleep(shared.limits.idle_timeout);
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
            _ = shared.token.cancelled(), if !shutting_down => {
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
