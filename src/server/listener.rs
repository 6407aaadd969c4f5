//! A bound listener and what it serves: what [`super::run`] announces and
//! starts, one task per listener.

use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio_rustls::TlsAcceptor;

use super::accept::{Accept, accept_loop};
use super::bridge::{self, Accepted, Bridge};
use super::metrics::{ServiceCounters, Transport};
use super::mounted::Mounted;
use super::routes::Routes;
use super::shared::Shared;
use super::tcp::TcpAcceptor;
use super::udp::UdpListener;
use super::unix::UnixAcceptor;
use super::{bridge_udp, http, stream, tls_accept, udp};
use crate::endpoint::Endpoint;

/// A listening socket, bound, with what it serves.
pub enum Listener {
    /// Datagrams, each answered by one service.
    Datagram {
        socket: UdpListener,
        mounted: Arc<Mounted>,
        /// The URL asked for, with the real port.
        url: Endpoint,
    },
    /// Datagrams relayed by a bridge, one session per client address.
    UdpBridge {
        socket: UdpListener,
        bridge: Arc<Bridge>,
        /// The URL asked for, with the real port.
        url: Endpoint,
    },
    /// Connections, each served in a task of its own.
    Stream {
        socket: StreamSocket,
        /// The TLS handshake every connection starts with (`tls://`,
        /// `wss://`).
        tls: Option<TlsAcceptor>,
        serves: Serves,
        /// The URL asked for, with the real port.
        url: Endpoint,
        /// Every connection starts with a PROXY protocol header.
        proxy_protocol: bool,
    },
}

/// A socket that accepts connections.
pub enum StreamSocket {
    Tcp(TcpAcceptor),
    Unix(UnixAcceptor),
}

/// What the connections of a stream listener get.
pub enum Serves {
    /// One service, straight on the byte stream.
    Service(Arc<Mounted>),
    /// HTTP: WebSocket services by path, the web console, `/healthz` and
    /// `/metrics`.
    WebSockets(Arc<Routes>),
    /// HTTP for `--metrics` (the same routes without WebSocket services).
    Metrics(Arc<Routes>),
    /// Each connection relayed to its own upstream.
    Bridge(Arc<Bridge>),
}

impl Listener {
    /// The same listener, reading a PROXY protocol header first on every
    /// connection when `on` (stream listeners; UDP has no connections).
    pub fn proxied(mut self, on: bool) -> Listener {
        if let Listener::Stream { proxy_protocol, .. } = &mut self {
            *proxy_protocol = on;
        }
        self
    }

    /// Writes one `listening NAME URL` line for each URL this listener
    /// serves, and from now on shows its services in `/metrics`.
    pub fn announce(&self, out: &mut impl Write) -> io::Result<()> {
        let names = self.names();
        for (counters, name, url) in &names {
            writeln!(out, "listening {name} {url}")?;
            tracing::debug!(service = name, url = %url, "listening");
            if let Some(c) = counters {
                c.get(Transport::of(url))
                    .in_use
                    .store(true, Ordering::Relaxed);
            }
        }
        out.flush()
    }

    /// Every (counters, name, URL) this listener answers for.
    fn names(&self) -> Vec<(Option<&ServiceCounters>, &'static str, Endpoint)> {
        match self {
            Listener::Datagram { mounted, url, .. }
            | Listener::Stream {
                serves: Serves::Service(mounted),
                url,
                ..
            } => vec![(Some(&mounted.counters), mounted.name(), url.clone())],
            Listener::UdpBridge { bridge, url, .. }
            | Listener::Stream {
                serves: Serves::Bridge(bridge),
                url,
                ..
            } => vec![(Some(&bridge.counters), "bridge", url.clone())],
            Listener::Stream {
                serves: Serves::WebSockets(routes),
                url,
                ..
            } if routes.bridge.is_some() => routes
                .bridge
                .iter()
                .map(|(_, b)| (Some(&*b.counters), "bridge", url.clone()))
                .collect(),
            Listener::Stream {
                serves: Serves::WebSockets(routes),
                url,
                ..
            } => routes
                .paths
                .iter()
                .map(|(path, m)| {
                    let mut e = url.clone();
                    if let Endpoint::Ws(t) | Endpoint::Wss(t) = &mut e {
                        t.path = path.clone();
                        t.query = None;
                    }
                    (Some(&*m.counters), m.name(), e)
                })
                .collect(),
            Listener::Stream {
                serves: Serves::Metrics(_),
                url,
                ..
            } => vec![(None, "metrics", url.clone())],
        }
    }

    /// Starts serving in the background, in a task that ends at shutdown
    /// (a Unix listener removes its socket file as it ends).
    pub fn spawn(self, shared: &Arc<Shared>) {
        match self {
            Listener::Datagram {
                socket,
                mounted,
                url,
            } => {
                let name = url.to_string().into();
                shared
                    .tracker
                    .spawn(udp::serve(socket, mounted, shared.clone(), name));
            }
            Listener::UdpBridge {
                socket,
                bridge,
                url,
            } => {
                let name = url.to_string().into();
                let serve = bridge_udp::serve(socket, bridge, shared.clone(), name);
                shared.tracker.spawn(serve);
            }
            Listener::Stream {
                socket,
                tls,
                serves,
                url,
                proxy_protocol,
            } => {
                let accept = Accepting {
                    tls,
                    serves,
                    url: &url,
                    proxy_protocol,
                };
                match socket {
                    StreamSocket::Tcp(a) => spawn_accept(a, accept, shared),
                    StreamSocket::Unix(a) => spawn_accept(a, accept, shared),
                }
            }
        }
    }
}

/// What the connections of one stream listener get.
struct Accepting<'a> {
    tls: Option<TlsAcceptor>,
    serves: Serves,
    url: &'a Endpoint,
    proxy_protocol: bool,
}

/// Runs the accept loop of a stream listener: each connection gets its
/// PROXY header read and its TLS handshake if any, then the service or
/// HTTP.
fn spawn_accept<A: Accept<Stream: Accepted>>(
    acceptor: A,
    accept: Accepting<'_>,
    shared: &Arc<Shared>,
) {
    let Accepting {
        tls,
        serves,
        url,
        proxy_protocol,
    } = accept;
    let transport = Transport::of(url);
    let name: Arc<str> = url.to_string().into();
    let sh = shared.clone();
    let tracker = &shared.tracker;
    let pp = proxy_protocol;
    match (serves, tls) {
        (Serves::Service(m), None) => {
            let serve =
                move |s, peer| stream::serve_connection(s, peer, m.clone(), sh.clone(), transport);
            tracker.spawn(accept_loop(acceptor, shared.clone(), name, pp, serve))
        }
        (Serves::Service(m), Some(tls)) => {
            let serve = move |s, peer| {
                let (m, sh2) = (m.clone(), sh.clone());
                tls_accept::after_handshake(s, peer, tls.clone(), sh.clone(), move |s, peer| {
                    stream::serve_connection(s, peer, m, sh2, transport)
                })
            };
            tracker.spawn(accept_loop(acceptor, shared.clone(), name, pp, serve))
        }
        (Serves::Bridge(b), None) => {
            let serve =
                move |s, peer| bridge::serve_connection(s, peer, b.clone(), sh.clone(), transport);
            tracker.spawn(accept_loop(acceptor, shared.clone(), name, pp, serve))
        }
        (Serves::Bridge(b), Some(tls)) => {
            let serve = move |s, peer| {
                let (b, sh2) = (b.clone(), sh.clone());
                tls_accept::after_handshake(s, peer, tls.clone(), sh.clone(), move |s, peer| {
                    bridge::serve_connection(s, peer, b, sh2, transport)
                })
            };
            tracker.spawn(accept_loop(acceptor, shared.clone(), name, pp, serve))
        }
        (Serves::WebSockets(routes) | Serves::Metrics(routes), None) => {
            let serve = move |s: A::Stream, peer| {
                let local = s.local_addr();
                http::serve_connection(s, peer, local, routes.clone(), sh.clone(), transport)
            };
            tracker.spawn(accept_loop(acceptor, shared.clone(), name, pp, serve))
        }
        (Serves::WebSockets(routes) | Serves::Metrics(routes), Some(tls)) => {
            let serve = move |s, peer| {
                let (routes, sh2) = (routes.clone(), sh.clone());
                tls_accept::after_handshake(s, peer, tls.clone(), sh.clone(), move |s, peer| {
                    let local = Accepted::local_addr(&s);
                    http::serve_connection(s, peer, local, routes, sh2, transport)
                })
            };
            tracker.spawn(accept_loop(acceptor, shared.clone(), name, pp, serve))
        }
    };
}
