//! Socket activation: each `fd:` URL (`tcp://fd:3`, `ws://fd:web/echo`)
//! becomes the inherited sockets it names, as listeners of the plan bound
//! already ([`Listen::Bound`]), announced with their real addresses.
//!
//! One socket serves one URL, except that the WebSocket URLs of one scheme
//! may share one (several paths on one HTTP listener, as with ports).

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};

use anyhow::Context;

use crate::endpoint::{Endpoint, Host, HostPort};
use crate::server::{Listen, Prebound};
use crate::systemd::{Inherited, Kind, Socket};

/// The inherited sockets, as the URLs of a configuration take them.
pub struct Activation {
    inherited: Inherited,
    /// Sockets taken by WebSocket URLs, by index: another WebSocket URL of
    /// the same scheme may share them.
    ws: HashMap<usize, (&'static str, TcpListener)>,
}

impl Activation {
    /// Reads what the service manager passed (see [`Inherited::from_env`]:
    /// before any thread starts).
    pub fn from_env() -> Activation {
        Activation {
            inherited: Inherited::from_env(),
            ws: HashMap::new(),
        }
    }

    /// The listeners `url` stands for: itself to bind, or the inherited
    /// sockets it names.
    pub fn listen(&mut self, url: Endpoint) -> anyhow::Result<Vec<Listen>> {
        let Some(r) = url.inherited() else {
            return Ok(vec![Listen::Url(url)]);
        };
        let kind = match url {
            Endpoint::Udp(_) => Kind::Udp,
            Endpoint::Unix(_) => Kind::Unix,
            _ => Kind::Tcp,
        };
        let fail = |why: String| anyhow::anyhow!("cannot listen on {url}: {why}");
        let indexes = self.inherited.find(&r).map_err(fail)?;
        let mut listens = Vec::new();
        for index in indexes {
            let socket = match self.shared_ws(index, &url).map_err(fail)? {
                Some(dup) => Socket::Tcp(dup),
                None => {
                    let socket = self.inherited.take(index, kind).map_err(fail)?;
                    if let (Socket::Tcp(l), Endpoint::Ws(_) | Endpoint::Wss(_)) = (&socket, &url) {
                        let dup = l.try_clone().with_context(|| format!("{url}"))?;
                        self.ws.insert(index, (url.scheme(), dup));
                    }
                    socket
                }
            };
            let (prebound, real) = announced(socket, &url).map_err(fail)?;
            tracing::info!("{url}: serving the inherited socket {real}");
            listens.push(Listen::Bound(prebound, real));
        }
        Ok(listens)
    }

    /// Another handle on a socket a WebSocket URL of the same scheme took.
    fn shared_ws(&self, index: usize, url: &Endpoint) -> Result<Option<TcpListener>, String> {
        let Some((scheme, l)) = self.ws.get(&index) else {
            return Ok(None);
        };
        if *scheme != url.scheme() {
            return Err(format!(
                "fd {} is already in use by a {scheme}:// URL",
                index + 3
            ));
        }
        l.try_clone().map(Some).map_err(|e| e.to_string())
    }

    /// Closes the inherited sockets no URL named, with a warning for each.
    pub fn finish(mut self) {
        for unused in self.inherited.close_unused() {
            tracing::warn!("{unused} was passed to duplex but no URL names it: closed");
        }
    }
}

/// The socket as the plan takes it, and `url` with the socket's real
/// address (`tcp://fd:web` is announced as `tcp://127.0.0.1:8080`).
fn announced(socket: Socket, url: &Endpoint) -> Result<(Prebound, Endpoint), String> {
    let local = |a: std::io::Result<SocketAddr>| a.map_err(|e| e.to_string());
    Ok(match socket {
        Socket::Tcp(l) => {
            let addr = local(l.local_addr())?;
            (Prebound::Tcp(l), at(url, addr))
        }
        Socket::Udp(s) => {
            let addr = local(s.local_addr())?;
            (Prebound::Udp(s), at(url, addr))
        }
        Socket::Unix(l) => {
            let path = l
                .local_addr()
                .ok()
                .and_then(|a| a.as_pathname().map(|p| p.to_path_buf()));
            let real = path.map_or_else(|| url.clone(), Endpoint::Unix);
            (Prebound::Unix(l), real)
        }
    })
}

/// `url` with `addr` in place of its `fd:` host.
fn at(url: &Endpoint, addr: SocketAddr) -> Endpoint {
    let hp = HostPort {
        host: Host::Ip(addr.ip()),
        port: addr.port(),
    };
    let mut real = url.clone();
    match &mut real {
        Endpoint::Tcp(h) | Endpoint::Udp(h) | Endpoint::Tls(h) => *h = hp,
        Endpoint::Ws(t) | Endpoint::Wss(t) => t.addr = hp,
        Endpoint::Unix(_) => {}
    }
    real
}
