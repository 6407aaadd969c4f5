//! One bridge (`duplex bridge FROM TO`, a `[[bridge]]` entry): every
//! session accepted on FROM gets its own connection to TO, and a
//! [`Relay`] between the two until the session ends.
//!
//! A session is admitted under `--max-connections` like any other (a
//! client over the limit is closed at once, without a word: a bridge
//! cannot know its protocol), then TO is dialled before anything is
//! relayed. When TO cannot be reached the client is closed and the
//! session's one log line says why. The idle timeout, shutdown and the
//! metrics (`service="bridge"`) are the server's own.

use std::fmt;
use std::future::poll_fn;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::header::HeaderValue;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;

use super::interrupts::{Interrupt, Interrupts};
use super::metrics::{ErrorKind, Limit, ServiceCounters, Transport};
use super::peer::Peer;
use super::session::Traffic;
use super::shared::Shared;
use super::upstream::{DialError, Reached, Upstream};
use crate::relay::proxy::Origin;
use crate::relay::{self, Failure, Relay, Side, Which};

/// How long winding a session down (delivering what is held, closing
/// both sides) may take once it is over.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// A bridge as the server runs it.
pub struct Bridge {
    pub upstream: Upstream,
    pub relay: relay::Settings,
    /// After one side of a session with a UDP side has ended, the session
    /// ends once nothing has come for this long (`--wait`).
    pub wait: Duration,
    /// Shared by every bridge of the process (`service="bridge"`).
    pub counters: Arc<ServiceCounters>,
}

/// A connection a bridge accepted, which can say where it was accepted
/// (for the PROXY header).
pub trait Accepted: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    fn local_addr(&self) -> Option<SocketAddr>;
}

impl Accepted for tokio::net::TcpStream {
    fn local_addr(&self) -> Option<SocketAddr> {
        tokio::net::TcpStream::local_addr(self).ok()
    }
}

impl Accepted for tokio::net::UnixStream {
    fn local_addr(&self) -> Option<SocketAddr> {
        None
    }
}

impl<S: Accepted> Accepted for tokio_rustls::server::TlsStream<S> {
    fn local_addr(&self) -> Option<SocketAddr> {
        self.get_ref().0.local_addr()
    }
}

/// Serves one connection accepted on a stream FROM (TCP, Unix, TLS).
pub async fn serve_connection<S: Accepted>(
    stream: S,
    peer: Peer,
    bridge: Arc<Bridge>,
    shared: Arc<Shared>,
    transport: Transport,
) {
    let Some(_permit) = shared.admit() else {
        tracing::warn!(%peer, transport = transport.label(), service = "bridge", "refused: --max-connections reached");
        bridge.counters.get(transport).refused();
        return;
    };
    let origin = Origin {
        // Behind `--proxy-protocol`, the client its header names.
        client: match peer {
            Peer::Ip(a) | Peer::Proxied { client: a, .. } => Some(a),
            _ => None,
        },
        local: stream.local_addr(),
        datagram: false,
    };
    let client = Side::Bytes(Box::new(stream));
    run_session(client, origin, peer, transport, &bridge, &shared).await;
}

/// One admitted session: dials TO, relays, and writes the closing log line.
pub async fn run_session(
    client: Side,
    origin: Origin,
    peer: Peer,
    transport: Transport,
    bridge: &Bridge,
    shared: &Shared,
) {
    let session = Session::open(bridge, shared, peer, transport);
    let dialled = session.dial(&origin, None).await.map(|r| r.side);
    session.finish(client, dialled).await;
}

/// A session admitted on a bridge, counted from the start and logged at
/// the end. Dialling and relaying are apart so that a client can be
/// answered according to the dial: a WebSocket handshake gets 502 when TO
/// cannot be reached, and is upgraded only when it can.
pub struct Session<'a> {
    bridge: &'a Bridge,
    shared: &'a Shared,
    peer: Peer,
    transport: Transport,
    start: Instant,
}

impl<'a> Session<'a> {
    /// Counts a newly admitted session.
    pub fn open(bridge: &'a Bridge, shared: &'a Shared, peer: Peer, transport: Transport) -> Self {
        bridge.counters.get(transport).opened();
        Session {
            bridge,
            shared,
            peer,
            transport,
            start: Instant::now(),
        }
    }

    /// Dials TO for a client that came from `origin`, offering a
    /// WebSocket TO the client's subprotocols (a failure is counted by
    /// kind).
    pub async fn dial(
        &self,
        origin: &Origin,
        protocols: Option<HeaderValue>,
    ) -> Result<Reached, DialError> {
        // Boxed: dialling (TLS, a WebSocket handshake) needs a large
        // future, and unboxed it would size the session's future, which an
        // idle session keeps for as long as it relays.
        let dial = Box::pin(self.bridge.upstream.dial(origin, protocols));
        let dialled = tokio::select! {
            r = dial => r,
            _ = self.shared.token.cancelled() => Err(DialError {
                kind: super::edge_metrics::UpstreamFailure::Other,
                message: "the server is shutting down".into(),
            }),
        };
        if let Err(e) = &dialled {
            self.shared.metrics.upstream_failures.count(e.kind);
        }
        dialled
    }

    /// Relays `client` to what was dialled (or closes it, when dialling
    /// failed), then writes the session's one log line.
    pub async fn finish(self, mut client: Side, dialled: Result<Side, DialError>) {
        let counters = self.bridge.counters.get(self.transport);
        let mut traffic = Traffic::new(counters);
        let outcome = match dialled {
            Ok(upstream) => {
                let mut relay = Relay::new(client, upstream, self.bridge.relay.clone());
                drive(&mut relay, self.bridge, self.shared, &mut traffic).await
            }
            Err(e) => {
                // Closed without a word; over TLS with a close_notify.
                let closing = poll_fn(|cx| close(cx, &mut client));
                let _ = tokio::time::timeout(CLOSE_WAIT, closing).await;
                Outcome::Unreachable(e)
            }
        };
        self.end(&traffic, &outcome);
    }

    /// TO could not be reached and the client was answered otherwise (a
    /// WebSocket client: HTTP 502): the session's log line.
    pub fn unreachable(self, e: DialError) {
        let traffic = Traffic::new(self.bridge.counters.get(self.transport));
        self.end(&traffic, &Outcome::Unreachable(e));
    }

    /// The client went away before its WebSocket handshake was answered
    /// (TO was reached): the session's log line.
    pub fn gone(self) {
        let traffic = Traffic::new(self.bridge.counters.get(self.transport));
        self.end(&traffic, &Outcome::Gone);
    }

    /// Counts the end of the session and writes its one log line.
    fn end(self, traffic: &Traffic<'_>, outcome: &Outcome) {
        let counters = traffic.counters;
        counters.closed();
        match outcome {
            Outcome::Interrupted(Interrupt::Idle | Interrupt::Ping) => {
                counters.limit_hit(Limit::IdleTimeout)
            }
            Outcome::Failed(f) if too_big(&f.error) => counters.limit_hit(Limit::MaxMessage),
            Outcome::Failed(_) => counters.error(ErrorKind::Io),
            _ => {}
        }
        let (peer, transport) = (self.peer, self.transport.label());
        let proxy = peer.proxy().map(tracing::field::display);
        let upstream = &self.bridge.upstream.url;
        let duration_ms = self.start.elapsed().as_millis() as u64;
        let (bytes_in, bytes_out) = (traffic.bytes_in, traffic.bytes_out);
        if matches!(outcome, Outcome::Unreachable(_)) {
            tracing::warn!(%peer, proxy, transport, service = "bridge", %upstream, duration_ms,
                bytes_in, bytes_out, reason = %outcome, "session closed");
        } else {
            tracing::info!(%peer, proxy, transport, service = "bridge", %upstream, duration_ms,
                bytes_in, bytes_out, reason = %outcome, "session closed");
        }
    }
}

/// A WebSocket message over `--max-message` (see `relay::ws`).
fn too_big(e: &std::io::Error) -> bool {
    e.get_ref()
        .and_then(|e| e.downcast_ref::<crate::websocket::Error>())
        .is_some_and(|e| matches!(e, crate::websocket::Error::TooBig))
}

/// Closes the sending side of a client never relayed.
fn close(cx: &mut std::task::Context<'_>, side: &mut Side) -> std::task::Poll<std::io::Result<()>> {
    match side {
        Side::Bytes(s) => std::pin::Pin::new(&mut **s).poll_shutdown(cx),
        Side::Messages(m) => m.poll_close(cx),
    }
}

/// How a session ended, as its log line says it.
enum Outcome {
    /// Both sides finished; this one first.
    Closed(Which),
    /// One side finished and the other (UDP) was quiet for `--wait`.
    Quiet(Duration),
    Interrupted(Interrupt),
    Failed(Failure),
    Unreachable(DialError),
    /// The client left during the handshake.
    Gone,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Closed(Which::Client) => f.write_str("client closed first"),
            Outcome::Closed(Which::Upstream) => f.write_str("upstream closed first"),
            Outcome::Quiet(d) => write!(f, "nothing more for {d:?} (--wait)"),
            Outcome::Interrupted(Interrupt::Shutdown) => f.write_str("server shutdown"),
            Outcome::Interrupted(_) => f.write_str("idle timeout"),
            Outcome::Failed(Failure { side, error }) => {
                let who = match side {
                    Which::Client => "client",
                    Which::Upstream => "upstream",
                };
                write!(f, "{who} error: {error}")
            }
            Outcome::Unreachable(e) => write!(f, "upstream unreachable: {e}"),
            Outcome::Gone => f.write_str("client gone before the handshake completed"),
        }
    }
}

/// Runs `relay` until it is done, a side fails, the session goes idle or
/// quiet, or the server shuts down; counts its traffic as it goes.
async fn drive(
    relay: &mut Relay,
    bridge: &Bridge,
    shared: &Shared,
    traffic: &mut Traffic<'_>,
) -> Outcome {
    let mut interrupts =
        Interrupts::new(Some(shared.limits.idle_timeout), shared.token.cancelled());
    // Set once the session lingers (see `Relay::lingers`).
    let mut quiet: Option<Instant> = None;
    let outcome = loop {
        let step = interrupts.until(poll_fn(|cx| relay.poll_progress(cx)));
        let r = match quiet {
            None => step.await,
            Some(at) => match Box::pin(tokio::time::timeout_at(at, step)).await {
                Ok(r) => r,
                // A WebSocket closed, and the other side had nothing more.
                Err(_) if relay.peer_closed() => {
                    break Outcome::Closed(relay.first_end().unwrap_or(Which::Client));
                }
                Err(_) => break Outcome::Quiet(bridge.wait),
            },
        };
        match r {
            Err(interrupt) => break Outcome::Interrupted(interrupt),
            Ok(Err(failure)) => break Outcome::Failed(failure),
            Ok(Ok(())) => {
                interrupts.touch();
                let (from_client, to_client) = relay.traffic();
                traffic.received((from_client - traffic.bytes_in) as usize);
                traffic.sent((to_client - traffic.bytes_out) as usize);
                if relay.done() || relay.closed_through() {
                    break Outcome::Closed(relay.first_end().unwrap_or(Which::Client));
                }
                // Traffic toward a side that has closed goes nowhere: it
                // does not put off the end set when that side closed.
                if relay.lingers() && !(relay.peer_closed() && quiet.is_some()) {
                    quiet = Some(Instant::now() + bridge.wait);
                }
            }
        }
    };
    if !relay.done() {
        let failed = match &outcome {
            Outcome::Failed(f) => Some(f.side),
            _ => None,
        };
        // What a message peer that can say it (WebSocket) is told.
        let (code, reason) = match &outcome {
            Outcome::Interrupted(Interrupt::Shutdown) => (1001, "server shutdown"),
            Outcome::Interrupted(_) => (1000, "idle timeout"),
            Outcome::Failed(Failure {
                side: Which::Client,
                ..
            }) => (1011, "client error"),
            Outcome::Failed(Failure {
                side: Which::Upstream,
                ..
            }) => (1011, "upstream error"),
            _ => (1000, ""),
        };
        relay.closing(code, reason);
        let wind_down = poll_fn(|cx| relay.poll_wind_down(cx, failed));
        let _ = Box::pin(tokio::time::timeout(CLOSE_WAIT, wind_down)).await;
        let (from_client, to_client) = relay.traffic();
        traffic.received((from_client - traffic.bytes_in) as usize);
        traffic.sent((to_client - traffic.bytes_out) as usize);
    }
    outcome
}
