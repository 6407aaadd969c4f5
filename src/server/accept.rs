//! The accept loop, written once for every stream transport (TCP, Unix,
//! and TLS or HTTP on top of them).

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};

use super::peer::Peer;
use super::shared::Shared;

/// A listening socket that yields connected streams.
pub trait Accept: Send + Sync + 'static {
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// Accepts one connection and names its peer for logs.
    fn accept(&self) -> impl Future<Output = io::Result<(Self::Stream, Peer)>> + Send;
}

/// Accepts connections until shutdown and serves each in its own tracked
/// task with `serve`.
///
/// Accept errors such as EMFILE are retried with exponential backoff
/// (capped at one second) rather than spinning or exiting.
pub async fn accept_loop<A, F, Fut>(acceptor: A, shared: Arc<Shared>, url: Arc<str>, serve: F)
where
    A: Accept,
    F: Fn(A::Stream, Peer) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut backoff = Duration::from_millis(5);
    // One pinned shutdown future for the listener, not a waiter registered
    // on the token for every accepted connection.
    let shutdown = shared.token.cancelled();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            biased;
            _ = &mut shutdown => break,
            r = acceptor.accept() => r,
        };
        match accepted {
            Ok((stream, peer)) => {
                backoff = Duration::from_millis(5);
                shared.tracker.spawn(serve(stream, peer));
            }
            Err(e) => {
                tracing::warn!(listener = %url, error = %e, "accept failed; retrying in {backoff:?}");
                tokio::select! {
                    _ = &mut shutdown => break,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
    tracing::debug!(listener = %url, "stopped accepting");
}
