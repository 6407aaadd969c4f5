//! The TLS handshake of an accepted connection (`tls://`, `wss://`), bounded
//! in time and counted when it fails, before the connection is served.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use super::peer::Peer;
use super::shared::Shared;

/// How long a client may take to complete the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Completes the TLS handshake of an accepted connection, then runs `next`.
pub async fn after_handshake<S, F, Fut>(
    stream: S,
    peer: Peer,
    acceptor: TlsAcceptor,
    shared: Arc<Shared>,
    next: F,
) where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnOnce(TlsStream<S>, Peer) -> Fut,
    Fut: Future<Output = ()>,
{
    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => next(tls, peer).await,
        Ok(Err(e)) => {
            shared
                .metrics
                .tls_handshake_failures
                .fetch_add(1, Ordering::Relaxed);
            tracing::debug!(%peer, error = %e, "TLS handshake failed")
        }
        Err(_) => {
            shared
                .metrics
                .tls_handshake_failures
                .fetch_add(1, Ordering::Relaxed);
            tracing::debug!(%peer, "TLS handshake timed out")
        }
    }
}
