//! The server: listeners for every transport over one shared runtime.
//!
//! The runtime ([`Runtime`]) is written once and shared by every transport:
//! the connection limit (a semaphore, tried at accept time so that a refused
//! client gets an answer instead of hanging in the backlog), the idle timeout,
//! the shutdown token that every task watches, and the task tracker that
//! graceful shutdown waits on. Transports only frame bytes:
//!
//! * [`stream`]: TCP and Unix (and later TLS) connections, one task each;
//! * [`udp`]: one task per socket, a datagram in, replies out;
//! * [`tcp`], [`unix`]: binding and accepting.

pub mod guard;
pub mod http;
pub mod limits;
pub mod metrics;
pub mod shutdown;
pub mod stream;
pub mod tcp;
pub mod udp;
pub mod unix;
pub mod ws;

use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::endpoint::Endpoint;
use crate::service::{Service, Session, Stats};
pub use limits::Limits;
use metrics::Transport;

/// State shared by every listener and connection of one server process.
pub struct Runtime {
    pub limits: Limits,
    pub stats: Arc<Stats>,
    /// Cancelled when shutdown begins: listeners stop accepting and idle
    /// sessions end.
    pub token: CancellationToken,
    /// Every connection task, so shutdown can wait for in-flight replies.
    pub tracker: TaskTracker,
    /// One permit per open session (`--max-connections`).
    permits: Arc<Semaphore>,
    /// Every service's counters, for `/metrics`.
    pub metrics: metrics::Registry,
}

impl Runtime {
    pub fn new(limits: Limits, stats: Arc<Stats>) -> Arc<Runtime> {
        let permits = Arc::new(Semaphore::new(limits.max_connections));
        Arc::new(Runtime {
            limits,
            stats,
            token: CancellationToken::new(),
            tracker: TaskTracker::new(),
            permits,
            metrics: metrics::Registry::default(),
        })
    }

    /// Takes a session slot, or `None` when `--max-connections` sessions are
    /// already open. The slot is freed when the permit is dropped.
    pub fn admit(&self) -> Option<OwnedSemaphorePermit> {
        self.permits.clone().try_acquire_owned().ok()
    }

    /// The one-line answer given to a client refused by the connection limit.
    pub fn busy_message(&self) -> String {
        format!(
            "ERR server busy: {} connections open, the limit is {} (--max-connections)\n",
            self.limits.max_connections, self.limits.max_connections
        )
    }
}

/// A service mounted on one or more listeners, with the count of sessions
/// opened so far (which numbers sessions for `--seed`).
pub struct Mounted {
    pub service: Service,
    /// This service's counters, per transport.
    pub counters: Arc<metrics::ServiceCounters>,
    sessions: AtomicU64,
}

impl Mounted {
    pub fn new(service: Service) -> Arc<Mounted> {
        Arc::new(Mounted {
            service,
            counters: Arc::default(),
            sessions: AtomicU64::new(0),
        })
    }

    pub fn name(&self) -> &'static str {
        self.service.name()
    }

    /// A new session of a line service (`None` for echo).
    pub fn open_session(&self) -> Option<Box<dyn Session>> {
        match &self.service {
            Service::Echo => None,
            Service::Line(s) => {
                let ordinal = self.sessions.fetch_add(1, Ordering::Relaxed);
                Some(s.session(ordinal))
            }
        }
    }
}

/// Who is on the other end of a connection, for logs.
///
/// Kept as the raw address (or credentials) and formatted only when a log
/// line is written: with logging at the default level, an accepted
/// connection costs no string formatting or allocation for its name.
#[derive(Debug, Clone, Copy)]
pub enum Peer {
    Ip(std::net::SocketAddr),
    /// A Unix socket peer, by the credentials the kernel reports.
    Unix {
        pid: Option<i32>,
        uid: u32,
    },
    Unknown,
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Peer::Ip(a) => a.fmt(f),
            Peer::Unix { pid, uid } => write!(f, "pid {} uid {uid}", pid.unwrap_or(0)),
            Peer::Unknown => f.write_str("unix peer"),
        }
    }
}

/// A listening socket that yields connected streams: TCP, Unix, TLS.
pub trait Accept: Send + Sync + 'static {
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// Accepts one connection and names its peer for logs.
    fn accept(&self) -> impl Future<Output = io::Result<(Self::Stream, Peer)>> + Send;
}

/// Accepts connections until shutdown and serves each in its own tracked
/// task with `serve`.
///
/// Written once for every stream transport. Accept errors such as EMFILE are
/// retried with exponential backoff (capped at one second) rather than
/// spinning or exiting.
pub async fn accept_loop<A, F, Fut>(acceptor: A, rt: Arc<Runtime>, url: Arc<str>, serve: F)
where
    A: Accept,
    F: Fn(A::Stream, Peer) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut backoff = Duration::from_millis(5);
    // One pinned shutdown future for the listener, not a waiter registered
    // on the token for every accepted connection.
    let shutdown = rt.token.cancelled();
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
                rt.tracker.spawn(serve(stream, peer));
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

/// One admitted session, from the moment it is counted to its closing log
/// line: written once for every transport.
pub(crate) struct SessionLog<'a> {
    pub counters: &'a metrics::Counters,
    transport: Transport,
    service: &'static str,
    peer: Peer,
    start: tokio::time::Instant,
}

impl<'a> SessionLog<'a> {
    /// Counts a newly admitted session (for `counter` and the metrics).
    pub fn open(
        rt: &Runtime,
        mounted: &'a Mounted,
        transport: Transport,
        peer: Peer,
    ) -> SessionLog<'a> {
        rt.stats.client_connected();
        let counters = mounted.counters.get(transport);
        counters.opened();
        tracing::debug!(%peer, transport = transport.label(), service = mounted.name(), "connected");
        SessionLog {
            counters,
            transport,
            service: mounted.name(),
            peer,
            start: tokio::time::Instant::now(),
        }
    }

    /// Records how the session ended and writes its one log line.
    pub fn close(self, tally: &metrics::Tally<'_>, result: &io::Result<stream::End>) {
        self.counters.closed();
        // Formatted only if the line is written (see `Reason`).
        let reason = match result {
            Ok(stream::End::Idle) => {
                self.counters.limit_hit(metrics::Limit::IdleTimeout);
                Reason::Ended("idle timeout")
            }
            Ok(end) => Reason::Ended(end.describe()),
            Err(e) => {
                self.counters.error(metrics::ErrorKind::Io);
                Reason::Error(e)
            }
        };
        tracing::info!(
            peer = %self.peer,
            transport = self.transport.label(),
            service = self.service,
            duration_ms = self.start.elapsed().as_millis() as u64,
            bytes_in = tally.bytes_in,
            bytes_out = tally.bytes_out,
            requests = tally.requests,
            reason = %reason,
            "session closed"
        );
    }
}

/// Why a session ended, as its log line says it.
enum Reason<'a> {
    Ended(&'static str),
    Error(&'a io::Error),
}

impl std::fmt::Display for Reason<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::Ended(s) => f.write_str(s),
            Reason::Error(e) => write!(f, "error: {e}"),
        }
    }
}

/// Serves one connection of a stream transport (TCP, Unix, TLS): admits it
/// under `--max-connections` (a refused client gets one `ERR server busy`
/// line and is closed at once), counts it, and runs the service over it.
async fn serve_stream_connection<S>(
    mut stream: S,
    peer: Peer,
    mounted: Arc<Mounted>,
    rt: Arc<Runtime>,
    transport: Transport,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let Some(_permit) = rt.admit() else {
        tracing::warn!(%peer, transport = transport.label(), service = mounted.name(), "refused: --max-connections reached");
        mounted.counters.get(transport).refused();
        let msg = rt.busy_message();
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            stream.write_all(msg.as_bytes()).await?;
            stream.shutdown().await
        })
        .await;
        return;
    };
    let log = SessionLog::open(&rt, &mounted, transport, peer);
    let mut tally = metrics::Tally::new(log.counters);
    let close_notify = transport == Transport::Tls;
    let result = stream::serve(stream, &mounted, &rt, &mut tally, close_notify).await;
    log.close(&tally, &result);
}

/// A bound listener, ready to run.
pub enum Bound {
    Tcp(tcp::TcpAcceptor),
    Unix(unix::UnixAcceptor),
    Udp(udp::UdpListener),
    /// TCP with a TLS handshake per connection.
    Tls(tcp::TcpAcceptor, TlsAcceptor),
    /// One HTTP listener for every WebSocket path of a host and port, with
    /// TLS for `wss://`.
    Ws(tcp::TcpAcceptor, Arc<http::Routes>, Option<TlsAcceptor>),
}

/// How long a client may take to complete the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Binds a stream or datagram endpoint (`tls_config` for `tls://`) and returns
/// it with its real address (port 0 resolved). WebSocket endpoints are bound
/// by [`run`], which groups them by host and port.
pub async fn bind(
    endpoint: &Endpoint,
    tls_config: Option<&Arc<ServerConfig>>,
) -> anyhow::Result<(Bound, Endpoint)> {
    match endpoint {
        Endpoint::Tcp(hp) | Endpoint::Tls(hp) => {
            let l = tcp::bind(hp, endpoint).await?;
            let real = endpoint.with_port(l.local_port());
            let bound = match endpoint {
                Endpoint::Tls(_) => Bound::Tls(
                    l,
                    TlsAcceptor::from(need_tls(endpoint, tls_config)?.clone()),
                ),
                _ => Bound::Tcp(l),
            };
            Ok((bound, real))
        }
        Endpoint::Udp(hp) => {
            let l = udp::bind(hp, endpoint).await?;
            let port = l.local_port();
            Ok((Bound::Udp(l), endpoint.with_port(port)))
        }
        Endpoint::Unix(path) => {
            let l = unix::bind(path, endpoint)?;
            Ok((Bound::Unix(l), endpoint.clone()))
        }
        Endpoint::Ws(_) | Endpoint::Wss(_) => {
            anyhow::bail!("{endpoint}: WebSocket listeners are bound by run()")
        }
    }
}

fn need_tls<'a>(
    endpoint: &Endpoint,
    tls: Option<&'a Arc<ServerConfig>>,
) -> anyhow::Result<&'a Arc<ServerConfig>> {
    tls.ok_or_else(|| {
        anyhow::anyhow!(
            "cannot listen on {endpoint}: TLS needs --tls-cert and --tls-key (for development, make a pair with `duplex cert --out DIR --host localhost`)"
        )
    })
}

/// Completes the TLS handshake of an accepted connection, then runs `next`.
async fn after_tls<S, F, Fut>(
    stream: S,
    peer: Peer,
    acceptor: TlsAcceptor,
    rt: Arc<Runtime>,
    next: F,
) where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnOnce(tokio_rustls::server::TlsStream<S>, Peer) -> Fut,
    Fut: Future<Output = ()>,
{
    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => next(tls, peer).await,
        Ok(Err(e)) => {
            rt.metrics
                .tls_handshake_failures
                .fetch_add(1, Ordering::Relaxed);
            tracing::debug!(%peer, error = %e, "TLS handshake failed")
        }
        Err(_) => {
            rt.metrics
                .tls_handshake_failures
                .fetch_add(1, Ordering::Relaxed);
            tracing::debug!(%peer, "TLS handshake timed out")
        }
    }
}

/// Starts serving a bound listener in the background.
pub fn spawn(bound: Bound, mounted: Arc<Mounted>, rt: Arc<Runtime>, url: &Endpoint) {
    // Listener tasks are tracked too: they end as soon as the token is
    // cancelled, and a Unix listener removes its socket file as it ends.
    let tracker = rt.tracker.clone();
    let transport = Transport::of(url);
    let url: Arc<str> = url.to_string().into();
    let rt2 = rt.clone();
    match bound {
        Bound::Tcp(a) => {
            let serve = move |s, peer| {
                serve_stream_connection(s, peer, mounted.clone(), rt2.clone(), transport)
            };
            tracker.spawn(accept_loop(a, rt, url, serve))
        }
        Bound::Unix(a) => {
            let serve = move |s, peer| {
                serve_stream_connection(s, peer, mounted.clone(), rt2.clone(), transport)
            };
            tracker.spawn(accept_loop(a, rt, url, serve))
        }
        Bound::Udp(u) => tracker.spawn(udp::serve(u, mounted, rt, url.to_string())),
        Bound::Tls(a, acceptor) => {
            let serve = move |s, peer| {
                let (m, rt) = (mounted.clone(), rt2.clone());
                after_tls(s, peer, acceptor.clone(), rt2.clone(), move |tls, peer| {
                    serve_stream_connection(tls, peer, m, rt, transport)
                })
            };
            tracker.spawn(accept_loop(a, rt, url, serve))
        }
        Bound::Ws(a, routes, None) => {
            let serve = move |s, peer| {
                http::serve_connection(s, peer, routes.clone(), rt2.clone(), transport)
            };
            tracker.spawn(accept_loop(a, rt, url, serve))
        }
        Bound::Ws(a, routes, Some(acceptor)) => {
            let serve = move |s, peer| {
                let (routes, rt) = (routes.clone(), rt2.clone());
                after_tls(s, peer, acceptor.clone(), rt2.clone(), move |tls, peer| {
                    http::serve_connection(tls, peer, routes, rt, transport)
                })
            };
            tracker.spawn(accept_loop(a, rt, url, serve))
        }
    };
}

/// Human-readable reason for a failure to bind, with the fix when there is one.
pub(crate) fn bind_error(endpoint: &Endpoint, port: Option<u16>, e: io::Error) -> anyhow::Error {
    let why = match e.kind() {
        io::ErrorKind::AddrInUse => {
            "address already in use (another program is listening there)".to_string()
        }
        io::ErrorKind::PermissionDenied if port.is_some_and(|p| p != 0 && p < 1024) => format!(
            "permission denied: ports below 1024 need root or the CAP_NET_BIND_SERVICE capability (try a port such as {})",
            7000 + port.unwrap_or(0)
        ),
        io::ErrorKind::AddrNotAvailable => {
            "that address does not belong to this machine".to_string()
        }
        _ => e.to_string(),
    };
    anyhow::anyhow!("cannot listen on {endpoint}: {why}")
}

/// The services a bound listener carries, with the URLs to announce.
type Announced = Vec<(Arc<Mounted>, Endpoint)>;

/// The WebSocket services of one scheme, host and port.
struct WsGroup {
    url: Endpoint,
    paths: BTreeMap<String, Arc<Mounted>>,
}

/// Runs a plan until SIGINT or SIGTERM, then shuts down gracefully.
///
/// Signals are registered before anything is bound, every listener is bound
/// before any is announced (so a failure leaves nothing half-started), and
/// each bound listener prints exactly one `listening SERVICE URL` line.
pub async fn run(plan: crate::config::Plan) -> anyhow::Result<()> {
    use std::io::Write;

    let mut signals = shutdown::Signals::install()?;
    let stats = Stats::new();
    let rt = Runtime::new(plan.limits.clone(), stats.clone());
    let tls_config = plan
        .tls
        .as_ref()
        .map(crate::tls::server_config)
        .transpose()?;
    // WebSocket URLs that share a scheme, host and port share one HTTP listener.
    let mut bound: Vec<(Bound, Announced)> = Vec::new();
    let mut ws_groups: Vec<WsGroup> = Vec::new();
    for listener in &plan.listeners {
        let mounted = Mounted::new(listener.build(&stats)?);
        rt.metrics
            .register(mounted.name(), mounted.counters.clone());
        for url in &listener.urls {
            let (Endpoint::Ws(t) | Endpoint::Wss(t)) = url else {
                let (b, real) = bind(url, tls_config.as_ref()).await?;
                bound.push((b, vec![(mounted.clone(), real)]));
                continue;
            };
            let same = |g: &&mut WsGroup| {
                g.url.scheme() == url.scheme() && g.url.host_port() == Some(&t.addr)
            };
            let index = match ws_groups.iter_mut().position(|g| same(&g)) {
                Some(i) => i,
                None => {
                    ws_groups.push(WsGroup {
                        url: url.clone(),
                        paths: BTreeMap::new(),
                    });
                    ws_groups.len() - 1
                }
            };
            if ws_groups[index]
                .paths
                .insert(t.path.clone(), mounted.clone())
                .is_some()
            {
                anyhow::bail!("{url}: two services on the same WebSocket path");
            }
        }
    }
    for WsGroup { url, paths } in ws_groups {
        let Some(hp) = url.host_port() else { continue };
        let tls = match url {
            Endpoint::Wss(_) => Some(TlsAcceptor::from(
                need_tls(&url, tls_config.as_ref())?.clone(),
            )),
            _ => None,
        };
        let acceptor = tcp::bind(hp, &url).await?;
        let port = acceptor.local_port();
        let announced = paths
            .iter()
            .map(|(path, m)| {
                let mut e = url.with_port(port);
                if let Endpoint::Ws(t) | Endpoint::Wss(t) = &mut e {
                    t.path = path.clone();
                    t.query = None;
                }
                (m.clone(), e)
            })
            .collect();
        let routes = Arc::new(http::Routes::new(paths, plan.limits.max_connections));
        if let Some(hp) = url.with_port(port).host_port() {
            let scheme = if tls.is_some() { "https" } else { "http" };
            match hp.host {
                crate::endpoint::Host::Any => {
                    tracing::info!("web console at {scheme}://localhost:{port}/")
                }
                _ => tracing::info!("web console at {scheme}://{hp}/"),
            }
        }
        bound.push((Bound::Ws(acceptor, routes, tls), announced));
    }
    // The metrics listener is an HTTP listener without WebSocket services.
    let mut metrics_listener = None;
    if let Some(url @ Endpoint::Tcp(hp)) = &plan.metrics {
        let acceptor = tcp::bind(hp, url).await?;
        let real = url.with_port(acceptor.local_port());
        let routes = Arc::new(http::Routes::new(
            BTreeMap::new(),
            plan.limits.max_connections,
        ));
        metrics_listener = Some((acceptor, routes, real));
    }
    let mut out = std::io::stdout().lock();
    if let Some((acceptor, routes, real)) = metrics_listener {
        writeln!(out, "listening metrics {real}")?;
        let rt2 = rt.clone();
        let serve = move |s, peer| {
            http::serve_connection(s, peer, routes.clone(), rt2.clone(), Transport::Tcp)
        };
        rt.tracker.spawn(accept_loop(
            acceptor,
            rt.clone(),
            real.to_string().into(),
            serve,
        ));
    }
    for (b, announced) in bound {
        for (mounted, real) in &announced {
            writeln!(out, "listening {} {}", mounted.name(), real)?;
            tracing::debug!(service = mounted.name(), url = %real, "listening");
        }
        out.flush()?;
        for (mounted, real) in &announced {
            mounted
                .counters
                .get(Transport::of(real))
                .in_use
                .store(true, Ordering::Relaxed);
        }
        let (mounted, real) = announced[0].clone();
        spawn(b, mounted, rt.clone(), &real);
    }
    drop(out);

    let sig = signals.recv().await;
    tracing::info!(
        "{sig}: shutting down (at most {:?}; a second signal exits at once)",
        rt.limits.shutdown_timeout
    );
    rt.token.cancel();
    rt.tracker.close();
    tokio::select! {
        _ = rt.tracker.wait() => tracing::info!("shutdown complete"),
        _ = tokio::time::sleep(rt.limits.shutdown_timeout) => {
            tracing::warn!(open = rt.tracker.len(), "shutdown timeout: dropping the remaining connections");
        }
        sig = signals.recv() => {
            eprintln!("duplex: {sig} again: exiting at once");
            std::process::exit(130);
        }
    }
    Ok(())
}
