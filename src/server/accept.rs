//! The accept loop, written once for every stream transport (TCP, Unix,
//! and TLS or HTTP on top of them): a listener's PROXY protocol header
//! (`--proxy-protocol`) is read here, in the connection's own task, so
//! every stream listener has it and TLS and HTTP begin after it.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::io::AsyncWrite;

use super::peer::Peer;
use super::proxied::{self, Peek};
use super::shared::Shared;

/// A listening socket that yields connected streams.
pub trait Accept: Send + Sync + 'static {
    type Stream: Peek + AsyncWrite + 'static;
    /// Accepts one connection and names its peer for logs.
    fn accept(&self) -> impl Future<Output = io::Result<(Self::Stream, Peer)>> + Send;
    /// Takes a connection the kernel has already completed, without
    /// waiting: how a closing listener serves its queue instead of letting
    /// the close reset it.
    fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(Self::Stream, Peer)>>;
}

/// Accepts connections until shutdown and serves each in its own tracked
/// task with `serve`, after its PROXY header when `proxy_protocol` is set.
///
/// Accept errors such as EMFILE are retried with exponential backoff
/// (capped at one second) rather than spinning or exiting. At shutdown the
/// connections already queued are accepted and served before the socket
/// closes: closing would reset them (see docs/behaviour.md, "Many
/// instances").
pub async fn accept_loop<A, F, Fut>(
    acceptor: A,
    shared: Arc<Shared>,
    url: Arc<str>,
    proxy_protocol: bool,
    serve: F,
) where
    A: Accept,
    F: Fn(A::Stream, Peer) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let serve = Arc::new(serve);
    let spawn = |stream: A::Stream, peer: Peer| {
        if !proxy_protocol {
            shared.tracker.spawn(serve(stream, peer));
            return;
        }
        let (serve, sh) = (serve.clone(), shared.clone());
        shared.tracker.spawn(async move {
            if let Some((stream, client)) = proxied::accept(stream, peer, &sh).await {
                serve(stream, client).await;
            }
        });
    };
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
                spawn(stream, peer);
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
    let mut drained = 0u64;
    let mut cx = Context::from_waker(Waker::noop());
    while let Poll::Ready(Ok((stream, peer))) = acceptor.poll_accept(&mut cx) {
        spawn(stream, peer);
        drained += 1;
    }
    tracing::debug!(listener = %url, drained, "stopped accepting");
}
