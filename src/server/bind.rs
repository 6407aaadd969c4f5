//! Binding a plan: every endpoint becomes a [`Listener`] that carries what
//! it serves.
//!
//! WebSocket URLs that share a scheme, host and port share one HTTP
//! listener, which routes by path. Every listener is bound before any is
//! announced, so a failure leaves nothing half-started (sockets bound so far
//! close, and Unix socket files go with them).

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;

use super::bridge::Bridge;
use super::limits::Limits;
use super::listener::{Listener, Serves, StreamSocket};
use super::metrics::ServiceCounters;
use super::mounted::Mounted;
use super::plan::{BridgePlan, Listen, ListenOptions, Plan, Prebound};
use super::routes::Routes;
use super::shared::Shared;
use super::tcp::{self, TcpAcceptor};
use super::udp::{self, UdpListener};
use super::unix::{self, UnixAcceptor};
use super::upstream::Upstream;
use crate::endpoint::{Endpoint, Host};

/// Binds every listener of `plan` and registers its services' counters.
/// The `--metrics` listener comes first, as it is announced first.
pub async fn bind_all(plan: Plan, shared: &Shared) -> anyhow::Result<Vec<Listener>> {
    let tls = plan.tls.as_ref();
    let max_connections = shared.limits.max_connections;
    let mut listeners = Vec::new();
    let mut groups: Vec<WsGroup> = Vec::new();
    for service in plan.services {
        let mounted = Mounted::new(service.service);
        shared
            .metrics
            .register(mounted.name(), mounted.counters.clone());
        let options = service.options;
        for listen in service.listen {
            match listen {
                Listen::Url(url @ (Endpoint::Ws(_) | Endpoint::Wss(_))) => {
                    WsGroup::add(&mut groups, url, &mounted, options)?
                }
                Listen::Bound(Prebound::Tcp(l), url @ (Endpoint::Ws(_) | Endpoint::Wss(_))) => {
                    WsGroup::add_bound(&mut groups, l, url, &mounted, options)?
                }
                Listen::Url(url) => {
                    let target = Target::Service(mounted.clone());
                    listeners.push(bind(&url, &target, tls, options).await?)
                }
                Listen::Bound(socket, url) => {
                    let target = Target::Service(mounted.clone());
                    listeners.push(adopt(socket, url, &target, tls, options, max_connections)?);
                }
            }
        }
    }
    if !plan.bridges.is_empty() {
        // One set of counters for every bridge: `service="bridge"`.
        let counters = Arc::new(ServiceCounters::default());
        shared.metrics.register("bridge", counters.clone());
        shared
            .metrics
            .upstream_failures
            .in_use
            .store(true, std::sync::atomic::Ordering::Relaxed);
        for plan in plan.bridges {
            listeners.push(bind_bridge(plan, &counters, tls, &shared.limits).await?);
        }
    }
    for group in groups {
        listeners.push(group.bind(tls, max_connections).await?);
    }
    if let Some(url) = &plan.metrics {
        listeners.insert(0, bind_metrics(url, max_connections).await?);
    }
    Ok(listeners)
}

/// What a stream or datagram listener is bound for.
enum Target {
    Service(Arc<Mounted>),
    Bridge(Arc<Bridge>),
}

impl Target {
    fn serves(&self) -> Serves {
        match self {
            Target::Service(m) => Serves::Service(m.clone()),
            Target::Bridge(b) => Serves::Bridge(b.clone()),
        }
    }

    fn datagram(&self, socket: UdpListener, url: Endpoint) -> Listener {
        match self {
            Target::Service(m) => datagram(socket, m, url),
            Target::Bridge(b) => Listener::UdpBridge {
                socket,
                bridge: b.clone(),
                url,
            },
        }
    }

    /// The routes of a WebSocket listener at `path` for this alone.
    fn routes(&self, path: &str, max_connections: usize) -> Routes {
        match self {
            Target::Service(m) => {
                Routes::new(BTreeMap::from([(path.into(), m.clone())]), max_connections)
            }
            Target::Bridge(b) => Routes::bridge(path.into(), b.clone(), max_connections),
        }
    }
}

/// Binds a bridge's FROM.
async fn bind_bridge(
    plan: BridgePlan,
    counters: &Arc<ServiceCounters>,
    tls: Option<&Arc<ServerConfig>>,
    limits: &Limits,
) -> anyhow::Result<Listener> {
    let max_connections = limits.max_connections;
    let upstream = Upstream::new(plan.to, plan.dial, plan.send_proxy, limits.max_message)?;
    let target = Target::Bridge(Arc::new(Bridge {
        upstream,
        relay: plan.relay,
        wait: plan.wait,
        counters: counters.clone(),
    }));
    let options = plan.options;
    match plan.from {
        Listen::Url(url @ (Endpoint::Ws(_) | Endpoint::Wss(_))) => {
            let Some(hp) = url.host_port() else {
                anyhow::bail!("{url}: a WebSocket URL needs a host and port");
            };
            let a = tcp::bind(hp, &url, options.reuse_port).await?;
            Ok(websocket(a, url, &target, tls, max_connections)?.proxied(options.proxy_protocol))
        }
        Listen::Url(url) => bind(&url, &target, tls, options).await,
        Listen::Bound(socket, url) => adopt(socket, url, &target, tls, options, max_connections),
    }
}

/// Binds a stream or datagram endpoint for one service or bridge.
async fn bind(
    url: &Endpoint,
    target: &Target,
    tls: Option<&Arc<ServerConfig>>,
    options: ListenOptions,
) -> anyhow::Result<Listener> {
    let serves = target.serves();
    let reuse_port = options.reuse_port;
    let listener = match url {
        Endpoint::Tcp(hp) | Endpoint::Tls(hp) => {
            let a = tcp::bind(hp, url, reuse_port).await?;
            let real = url.with_port(a.local_port());
            let tls = match url {
                Endpoint::Tls(_) => Some(acceptor(url, tls)?),
                _ => None,
            };
            stream(StreamSocket::Tcp(a), tls, serves, real)
        }
        Endpoint::Udp(hp) => {
            no_proxy_on_udp(url, options)?;
            let socket = udp::bind(hp, url, reuse_port).await?;
            let real = url.with_port(socket.local_port());
            target.datagram(socket, real)
        }
        Endpoint::Unix(path) => {
            if reuse_port {
                anyhow::bail!(
                    "{url}: --reuse-port is for tcp, udp, tls, ws and wss listeners (a Unix socket path has one listener)"
                );
            }
            let socket = StreamSocket::Unix(unix::bind(path, url)?);
            stream(socket, None, serves, url.clone())
        }
        Endpoint::Ws(_) | Endpoint::Wss(_) => {
            anyhow::bail!("{url}: WebSocket listeners are bound by host and port")
        }
    };
    Ok(listener.proxied(options.proxy_protocol))
}

/// Serves a socket bound outside the server the way `url` says
/// (WebSocket URLs are grouped by socket, see [`WsGroup::add_bound`]).
fn adopt(
    socket: Prebound,
    url: Endpoint,
    target: &Target,
    tls: Option<&Arc<ServerConfig>>,
    options: ListenOptions,
    max_connections: usize,
) -> anyhow::Result<Listener> {
    no_proxy_on_udp(&url, options)?;
    let serves = target.serves();
    let listener = match (socket, &url) {
        (Prebound::Tcp(l), Endpoint::Tcp(_) | Endpoint::Tls(_)) => {
            let a = TcpAcceptor::from_std(l)?;
            let real = url.with_port(a.local_port());
            let tls = match url {
                Endpoint::Tls(_) => Some(acceptor(&url, tls)?),
                _ => None,
            };
            stream(StreamSocket::Tcp(a), tls, serves, real)
        }
        (Prebound::Tcp(l), Endpoint::Ws(_) | Endpoint::Wss(_)) => {
            let a = TcpAcceptor::from_std(l)?;
            websocket(a, url.clone(), target, tls, max_connections)?
        }
        (Prebound::Udp(s), Endpoint::Udp(_)) => {
            let socket = UdpListener::from_std(s)?;
            let real = url.with_port(socket.local_port());
            target.datagram(socket, real)
        }
        (Prebound::Unix(l), Endpoint::Unix(_)) => {
            let socket = StreamSocket::Unix(UnixAcceptor::from_std(l)?);
            stream(socket, None, serves, url)
        }
        (socket, _) => anyhow::bail!("{url}: cannot be served on {socket:?}"),
    };
    Ok(listener.proxied(options.proxy_protocol))
}

/// A PROXY header starts a stream: a datagram listener cannot take one.
fn no_proxy_on_udp(url: &Endpoint, options: ListenOptions) -> anyhow::Result<()> {
    if options.proxy_protocol && matches!(url, Endpoint::Udp(_)) {
        anyhow::bail!("{url}: --proxy-protocol is for stream listeners (tcp, unix, tls, ws, wss)");
    }
    Ok(())
}

/// An HTTP listener of its own for one WebSocket URL's service or bridge.
fn websocket(
    a: TcpAcceptor,
    url: Endpoint,
    target: &Target,
    tls: Option<&Arc<ServerConfig>>,
    max_connections: usize,
) -> anyhow::Result<Listener> {
    let (Endpoint::Ws(t) | Endpoint::Wss(t)) = &url else {
        anyhow::bail!("{url}: not a WebSocket URL");
    };
    let tls = match url {
        Endpoint::Wss(_) => Some(acceptor(&url, tls)?),
        _ => None,
    };
    let routes = Arc::new(target.routes(&t.path, max_connections));
    let real = url.with_port(a.local_port());
    Ok(stream(
        StreamSocket::Tcp(a),
        tls,
        Serves::WebSockets(routes),
        real,
    ))
}

/// The `--metrics` listener: HTTP without WebSocket services.
async fn bind_metrics(url: &Endpoint, max_connections: usize) -> anyhow::Result<Listener> {
    let Endpoint::Tcp(hp) = url else {
        anyhow::bail!("--metrics takes a tcp:// address, e.g. tcp://127.0.0.1:9090 (not {url})");
    };
    let a = tcp::bind(hp, url, false).await?;
    let real = url.with_port(a.local_port());
    let routes = Arc::new(Routes::new(BTreeMap::new(), max_connections));
    Ok(stream(
        StreamSocket::Tcp(a),
        None,
        Serves::Metrics(routes),
        real,
    ))
}

fn stream(
    socket: StreamSocket,
    tls: Option<TlsAcceptor>,
    serves: Serves,
    url: Endpoint,
) -> Listener {
    Listener::Stream {
        socket,
        tls,
        serves,
        url,
        proxy_protocol: false,
    }
}

fn datagram(socket: UdpListener, mounted: &Arc<Mounted>, url: Endpoint) -> Listener {
    Listener::Datagram {
        socket,
        mounted: mounted.clone(),
        url,
    }
}

/// The TLS side of a `tls://` or `wss://` listener.
fn acceptor(url: &Endpoint, tls: Option<&Arc<ServerConfig>>) -> anyhow::Result<TlsAcceptor> {
    let config = tls.ok_or_else(|| {
        anyhow::anyhow!(
            "cannot listen on {url}: TLS needs --tls-cert and --tls-key (for development, make a pair with `duplex cert --out DIR --host localhost`)"
        )
    })?;
    Ok(TlsAcceptor::from(config.clone()))
}

/// The WebSocket services of one scheme, host and port, or of one socket
/// bound outside the server.
struct WsGroup {
    url: Endpoint,
    paths: BTreeMap<String, Arc<Mounted>>,
    /// The same for every service of the group: they share one socket.
    options: ListenOptions,
    /// The socket bound outside the server (and its address), if any.
    bound: Option<(std::net::TcpListener, std::net::SocketAddr)>,
}

impl WsGroup {
    /// Mounts `mounted` at the path of `url`, in the group of its scheme,
    /// host and port.
    fn add(
        groups: &mut Vec<WsGroup>,
        url: Endpoint,
        mounted: &Arc<Mounted>,
        options: ListenOptions,
    ) -> anyhow::Result<()> {
        let (Endpoint::Ws(t) | Endpoint::Wss(t)) = &url else {
            return Ok(());
        };
        let same = |g: &WsGroup| {
            g.bound.is_none()
                && g.url.scheme() == url.scheme()
                && g.url.host_port() == Some(&t.addr)
        };
        let index = groups.iter().position(same);
        WsGroup::mount(groups, index, None, url, mounted, options)
    }

    /// Mounts `mounted` at the path of `url` on a socket bound outside the
    /// server, in the group of that socket (another handle on the same
    /// socket joins its group).
    fn add_bound(
        groups: &mut Vec<WsGroup>,
        socket: std::net::TcpListener,
        url: Endpoint,
        mounted: &Arc<Mounted>,
        options: ListenOptions,
    ) -> anyhow::Result<()> {
        let addr = socket.local_addr()?;
        let same = |g: &WsGroup| {
            g.url.scheme() == url.scheme() && g.bound.as_ref().is_some_and(|(_, a)| *a == addr)
        };
        let index = groups.iter().position(same);
        WsGroup::mount(groups, index, Some((socket, addr)), url, mounted, options)
    }

    /// Mounts `mounted` in group `index`, or in a new group.
    fn mount(
        groups: &mut Vec<WsGroup>,
        index: Option<usize>,
        bound: Option<(std::net::TcpListener, std::net::SocketAddr)>,
        url: Endpoint,
        mounted: &Arc<Mounted>,
        options: ListenOptions,
    ) -> anyhow::Result<()> {
        let (Endpoint::Ws(t) | Endpoint::Wss(t)) = &url else {
            return Ok(());
        };
        let path = t.path.clone();
        let index = match index {
            Some(i) => i,
            None => {
                groups.push(WsGroup {
                    url: url.clone(),
                    paths: BTreeMap::new(),
                    options,
                    bound,
                });
                groups.len() - 1
            }
        };
        if groups[index].options != options {
            anyhow::bail!(
                "{url}: the WebSocket services of one port share its socket, so they need the same reuse_port and proxy_protocol"
            );
        }
        if groups[index].paths.insert(path, mounted.clone()).is_some() {
            anyhow::bail!("{url}: two services on the same WebSocket path");
        }
        Ok(())
    }

    /// Binds the group's one HTTP listener.
    async fn bind(
        self,
        tls: Option<&Arc<ServerConfig>>,
        max_connections: usize,
    ) -> anyhow::Result<Listener> {
        let WsGroup {
            url,
            paths,
            options,
            bound,
        } = self;
        let Some(hp) = url.host_port() else {
            anyhow::bail!("{url}: a WebSocket URL needs a host and port");
        };
        let tls = match url {
            Endpoint::Wss(_) => Some(acceptor(&url, tls)?),
            _ => None,
        };
        let a = match bound {
            Some((socket, _)) => TcpAcceptor::from_std(socket)?,
            None => tcp::bind(hp, &url, options.reuse_port).await?,
        };
        let port = a.local_port();
        let real = url.with_port(port);
        if let Some(hp) = real.host_port() {
            let scheme = if tls.is_some() { "https" } else { "http" };
            match hp.host {
                Host::Any => tracing::info!("web console at {scheme}://localhost:{port}/"),
                _ => tracing::info!("web console at {scheme}://{hp}/"),
            }
        }
        let routes = Arc::new(Routes::new(paths, max_connections));
        let listener = stream(StreamSocket::Tcp(a), tls, Serves::WebSockets(routes), real);
        Ok(listener.proxied(options.proxy_protocol))
    }
}
