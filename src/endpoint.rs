//! Endpoint URLs: one syntax for every transport, used by `serve`, `connect`,
//! `bench` and the configuration file.
//!
//! ```text
//! tcp://HOST:PORT   udp://HOST:PORT   tls://HOST:PORT
//! unix:///abs/path  unix://relative/path
//! ws://HOST:PORT/PATH?QUERY   wss://HOST:PORT/PATH?QUERY
//! tcp://fd:3  udp://fd:dns  unix://fd:ctl  ws://fd:web/PATH   (inherited sockets)
//! ```
//!
//! `fd:N` and `fd:NAME` in the host position (the whole path for `unix://`)
//! name a listening socket the service manager passed to `duplex serve`
//! (systemd socket activation): `N` is the file descriptor number (3 is the
//! first), `NAME` what `LISTEN_FDNAMES` calls it (systemd's
//! `FileDescriptorName=`). The host `fd` is reserved for this; a socket file
//! really called `fd:3` in the working directory is `unix://./fd:3`.
//!
//! The parser is hand-written rather than built on a general URL crate because
//! the forms we accept are not general URLs: `tcp://:7000` (empty host, "bind
//! everything") and `unix://relative.sock` (a relative path in the authority
//! position) are both meaningful here, and every error must say exactly what is
//! wrong and show an example that works.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;

/// The host part of a network endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// Empty host: listen on every interface (dual-stack where possible).
    /// As a connect target it means the local machine.
    Any,
    /// An IPv4 or IPv6 literal.
    Ip(IpAddr),
    /// A DNS name, resolved when it is used.
    Name(String),
    /// `fd:3` or `fd:NAME`: a listening socket inherited from the service
    /// manager (the port is meaningless and written as 0).
    Fd(FdRef),
}

/// Which inherited socket an `fd:` URL names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FdRef {
    /// The file descriptor number (`LISTEN_FDS` start at 3).
    Number(u32),
    /// The name `LISTEN_FDNAMES` gives it: every socket of that name.
    Name(String),
}

impl FdRef {
    /// Parses what follows `fd:`: a number, or a name as systemd's
    /// `FileDescriptorName=` allows it, restricted to what a URL carries
    /// plainly (letters, digits, `.`, `_`, `-`; at most 255).
    pub fn parse(s: &str) -> Option<FdRef> {
        if let Ok(n) = s.parse::<u32>() {
            return Some(FdRef::Number(n));
        }
        let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        (!s.is_empty() && s.len() <= 255 && s.chars().all(plain))
            .then(|| FdRef::Name(s.to_string()))
    }
}

impl fmt::Display for FdRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FdRef::Number(n) => write!(f, "fd:{n}"),
            FdRef::Name(name) => write!(f, "fd:{name}"),
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Any => Ok(()),
            Host::Ip(IpAddr::V4(ip)) => write!(f, "{ip}"),
            Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
            Host::Name(name) => f.write_str(name),
            Host::Fd(r) => r.fmt(f),
        }
    }
}

/// A host and a port, as in `127.0.0.1:7000`, `[::1]:7000` or `:7000`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostPort {
    pub host: Host,
    pub port: u16,
}

impl HostPort {
    /// The socket addresses this names. DNS names are resolved (which may
    /// block briefly, so this is async); an empty host gives the loopback
    /// address when connecting.
    pub async fn resolve(&self) -> std::io::Result<Vec<SocketAddr>> {
        match &self.host {
            Host::Any => Ok(vec![SocketAddr::from(([127, 0, 0, 1], self.port))]),
            Host::Ip(ip) => Ok(vec![SocketAddr::new(*ip, self.port)]),
            Host::Fd(r) => Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "{r} names a socket passed to `duplex serve` by the service manager; it has no address to dial"
                ),
            )),
            Host::Name(name) => {
                let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), self.port))
                    .await?
                    .collect();
                if addrs.is_empty() {
                    Err(std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        format!("{name} has no address"),
                    ))
                } else {
                    Ok(addrs)
                }
            }
        }
    }

    /// The name to present for TLS (SNI) and the HTTP `Host` header.
    pub fn host_name(&self) -> String {
        match &self.host {
            Host::Any => "localhost".to_string(),
            Host::Ip(ip) => ip.to_string(),
            Host::Name(n) => n.clone(),
            Host::Fd(r) => r.to_string(),
        }
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            // `fd:3` already has its colon; an inherited socket has no port.
            Host::Fd(r) => r.fmt(f),
            host => write!(f, "{host}:{}", self.port),
        }
    }
}

/// A WebSocket endpoint: host, port and the request target (path plus an
/// optional query string).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WsTarget {
    pub addr: HostPort,
    /// Path, always starting with `/`, without the query.
    pub path: String,
    /// Query string without the `?`, if any.
    pub query: Option<String>,
}

impl WsTarget {
    /// The HTTP request target: path and query.
    pub fn request_target(&self) -> String {
        match &self.query {
            Some(q) => format!("{}?{}", self.path, q),
            None => self.path.clone(),
        }
    }
}

/// Every transport duplex speaks, in one type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Tcp(HostPort),
    Udp(HostPort),
    Tls(HostPort),
    Unix(PathBuf),
    Ws(WsTarget),
    Wss(WsTarget),
}

impl Endpoint {
    /// The URL scheme, e.g. `tcp`.
    pub fn scheme(&self) -> &'static str {
        match self {
            Endpoint::Tcp(_) => "tcp",
            Endpoint::Udp(_) => "udp",
            Endpoint::Tls(_) => "tls",
            Endpoint::Unix(_) => "unix",
            Endpoint::Ws(_) => "ws",
            Endpoint::Wss(_) => "wss",
        }
    }

    /// The host and port of a network endpoint (`None` for Unix sockets).
    pub fn host_port(&self) -> Option<&HostPort> {
        match self {
            Endpoint::Tcp(hp) | Endpoint::Udp(hp) | Endpoint::Tls(hp) => Some(hp),
            Endpoint::Ws(t) | Endpoint::Wss(t) => Some(&t.addr),
            Endpoint::Unix(_) => None,
        }
    }

    /// The inherited socket an `fd:` URL names (see the module docs).
    pub fn inherited(&self) -> Option<FdRef> {
        match self {
            Endpoint::Unix(p) => p.to_str()?.strip_prefix("fd:").and_then(FdRef::parse),
            _ => match &self.host_port()?.host {
                Host::Fd(r) => Some(r.clone()),
                _ => None,
            },
        }
    }

    /// The same endpoint with another port: used to report the real port
    /// after binding port 0.
    pub fn with_port(&self, port: u16) -> Endpoint {
        let mut e = self.clone();
        match &mut e {
            Endpoint::Tcp(hp) | Endpoint::Udp(hp) | Endpoint::Tls(hp) => hp.port = port,
            Endpoint::Ws(t) | Endpoint::Wss(t) => t.addr.port = port,
            Endpoint::Unix(_) => {}
        }
        e
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Tcp(hp) | Endpoint::Udp(hp) | Endpoint::Tls(hp) => {
                write!(f, "{}://{}", self.scheme(), hp)
            }
            Endpoint::Unix(p) => write!(f, "unix://{}", p.display()),
            Endpoint::Ws(t) | Endpoint::Wss(t) => {
                write!(f, "{}://{}{}", self.scheme(), t.addr, t.path)?;
                if let Some(q) = &t.query {
                    write!(f, "?{q}")?;
                }
                Ok(())
            }
        }
    }
}

impl<'de> serde::Deserialize<'de> for Endpoint {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for Endpoint {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Why a URL was rejected. The message always names the problem and shows a
/// URL that would work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason} (for example {example})")]
pub struct EndpointError {
    pub reason: String,
    pub example: &'static str,
}

fn err(reason: impl Into<String>, example: &'static str) -> EndpointError {
    EndpointError {
        reason: reason.into(),
        example,
    }
}

const SCHEMES: &str = "tcp, udp, unix, ws, wss or tls";

fn example_for(scheme: &str) -> &'static str {
    match scheme {
        "udp" => "udp://127.0.0.1:7007",
        "tls" => "tls://127.0.0.1:7443",
        "unix" => "unix:///tmp/duplex.sock",
        "ws" => "ws://127.0.0.1:8080/ws",
        "wss" => "wss://127.0.0.1:8443/ws",
        _ => "tcp://127.0.0.1:7007",
    }
}

impl FromStr for Endpoint {
    type Err = EndpointError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let Some((scheme, rest)) = s.split_once("://") else {
            return Err(err(
                format!("'{s}' is not a URL: it needs a scheme ({SCHEMES}) followed by '://'"),
                "tcp://127.0.0.1:7007",
            ));
        };
        let lower = scheme.to_ascii_lowercase();
        let example = example_for(&lower);
        match lower.as_str() {
            "tcp" => Ok(Endpoint::Tcp(parse_host_port(rest, example)?)),
            "udp" => Ok(Endpoint::Udp(parse_host_port(rest, example)?)),
            "tls" => Ok(Endpoint::Tls(parse_host_port(rest, example)?)),
            "unix" => {
                if rest.is_empty() {
                    return Err(err("unix:// needs a socket path", example));
                }
                if rest.contains('\0') {
                    return Err(err("a Unix socket path cannot contain a NUL byte", example));
                }
                if let Some(name) = rest.strip_prefix("fd:")
                    && FdRef::parse(name).is_none()
                {
                    return Err(err(fd_name_error(name), "unix://fd:3"));
                }
                Ok(Endpoint::Unix(PathBuf::from(rest)))
            }
            "ws" | "wss" => {
                let (authority, target) = match rest.find(['/', '?']) {
                    Some(i) => rest.split_at(i),
                    None => (rest, ""),
                };
                let addr = parse_host_port(authority, example)?;
                let (path, query) = match target.split_once('?') {
                    Some((p, q)) => (p, Some(q.to_string())),
                    None => (target, None),
                };
                if target.contains('#') {
                    return Err(err("a WebSocket URL cannot have a fragment ('#')", example));
                }
                if target.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    return Err(err(
                        "a WebSocket path cannot contain spaces or control characters",
                        example,
                    ));
                }
                let path = if path.is_empty() {
                    "/".to_string()
                } else {
                    path.to_string()
                };
                let t = WsTarget { addr, path, query };
                Ok(if lower == "ws" {
                    Endpoint::Ws(t)
                } else {
                    Endpoint::Wss(t)
                })
            }
            _ => Err(err(
                format!("unknown scheme '{scheme}' in '{s}': use {SCHEMES}"),
                "tcp://127.0.0.1:7007",
            )),
        }
    }
}

/// Parses `HOST:PORT`, `[V6]:PORT` or `:PORT`.
fn parse_host_port(s: &str, example: &'static str) -> Result<HostPort, EndpointError> {
    if s.is_empty() {
        return Err(err(
            "the URL needs a host and a port, as HOST:PORT",
            example,
        ));
    }
    if s.contains('/') || s.contains('?') || s.contains('@') {
        return Err(err(
            format!("'{s}' is not HOST:PORT (this scheme takes no path)"),
            example,
        ));
    }
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return Err(err(
                format!("'{s}': an IPv6 address in '[' lacks its ']'"),
                example,
            ));
        };
        let ip: std::net::Ipv6Addr = v6
            .parse()
            .map_err(|_| err(format!("'{v6}' is not an IPv6 address"), "tcp://[::1]:7007"))?;
        let Some(port) = after.strip_prefix(':') else {
            return Err(err(
                format!("'{s}' has no port: add ':PORT' after ']'"),
                "tcp://[::1]:7007",
            ));
        };
        (Host::Ip(IpAddr::V6(ip)), port)
    } else {
        let Some((host, port)) = s.rsplit_once(':') else {
            return Err(err(format!("'{s}' has no port: write HOST:PORT"), example));
        };
        if host.contains(':') {
            return Err(err(
                format!("'{s}': put an IPv6 address in brackets, as [::1]:PORT"),
                "tcp://[::1]:7007",
            ));
        }
        if host.eq_ignore_ascii_case("fd") {
            return match FdRef::parse(port) {
                Some(r) => Ok(HostPort {
                    host: Host::Fd(r),
                    port: 0,
                }),
                None => Err(err(fd_name_error(port), "tcp://fd:3")),
            };
        }
        let host = if host.is_empty() {
            Host::Any
        } else if let Ok(ip) = host.parse::<IpAddr>() {
            Host::Ip(ip)
        } else if valid_dns_name(host) {
            Host::Name(host.to_ascii_lowercase())
        } else {
            return Err(err(
                format!("'{host}' is not a valid host name or IP address"),
                example,
            ));
        };
        (host, port)
    };
    if port.is_empty() {
        return Err(err(format!("'{s}' has an empty port"), example));
    }
    let port: u16 = port.parse().map_err(|_| {
        err(
            format!("port '{port}' is not a number from 0 to 65535"),
            example,
        )
    })?;
    Ok(HostPort { host, port })
}

fn fd_name_error(name: &str) -> String {
    format!(
        "'fd:{name}' names no inherited socket: write fd:N (a file descriptor from 3) or fd:NAME (letters, digits, '.', '_', '-')"
    )
}

fn valid_dns_name(s: &str) -> bool {
    s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Endpoint {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn tcp_ipv4() {
        let e = parse("tcp://127.0.0.1:7000");
        assert_eq!(
            e,
            Endpoint::Tcp(HostPort {
                host: Host::Ip([127, 0, 0, 1].into()),
                port: 7000
            })
        );
        assert_eq!(e.to_string(), "tcp://127.0.0.1:7000");
    }

    #[test]
    fn ipv6_in_brackets_round_trips() {
        let e = parse("udp://[::1]:53");
        assert_eq!(e.host_port().map(|h| h.port), Some(53));
        assert_eq!(e.to_string(), "udp://[::1]:53");
    }

    #[test]
    fn empty_host_means_any() {
        let e = parse("tcp://:7000");
        assert_eq!(
            e,
            Endpoint::Tcp(HostPort {
                host: Host::Any,
                port: 7000
            })
        );
        assert_eq!(e.to_string(), "tcp://:7000");
    }

    #[test]
    fn port_zero_is_allowed_and_with_port_replaces_it() {
        let e = parse("tcp://127.0.0.1:0");
        assert_eq!(e.with_port(4242).to_string(), "tcp://127.0.0.1:4242");
    }

    #[test]
    fn dns_names_are_kept() {
        assert_eq!(
            parse("tls://Example.COM:443").to_string(),
            "tls://example.com:443"
        );
    }

    #[test]
    fn unix_absolute_and_relative() {
        assert_eq!(
            parse("unix:///tmp/x.sock"),
            Endpoint::Unix("/tmp/x.sock".into())
        );
        assert_eq!(parse("unix://x.sock"), Endpoint::Unix("x.sock".into()));
        assert_eq!(
            parse("unix:///tmp/x.sock").to_string(),
            "unix:///tmp/x.sock"
        );
    }

    #[test]
    fn ws_path_defaults_to_root_and_keeps_query() {
        let e = parse("ws://127.0.0.1:8080");
        assert_eq!(e.to_string(), "ws://127.0.0.1:8080/");
        let e = parse("ws://localhost:8080/echo?x=1&y=2");
        let Endpoint::Ws(t) = &e else {
            panic!("not ws")
        };
        assert_eq!(t.path, "/echo");
        assert_eq!(t.query.as_deref(), Some("x=1&y=2"));
        assert_eq!(t.request_target(), "/echo?x=1&y=2");
        assert_eq!(e.to_string(), "ws://localhost:8080/echo?x=1&y=2");
        let e = parse("wss://[::1]:8443?q");
        assert_eq!(e.to_string(), "wss://[::1]:8443/?q");
    }

    #[test]
    fn inherited_sockets_by_number_and_name_round_trip() {
        for (url, r) in [
            ("tcp://fd:3", FdRef::Number(3)),
            ("udp://fd:dns", FdRef::Name("dns".into())),
            (
                "tls://FD:duplex.socket",
                FdRef::Name("duplex.socket".into()),
            ),
            ("unix://fd:ctl", FdRef::Name("ctl".into())),
            ("ws://fd:web/echo", FdRef::Name("web".into())),
            ("wss://fd:4/", FdRef::Number(4)),
        ] {
            let e = parse(url);
            assert_eq!(e.inherited(), Some(r), "{url}");
            assert_eq!(e.to_string().to_ascii_lowercase(), url.to_ascii_lowercase());
            assert_eq!(parse(&e.to_string()), e, "{url}");
        }
        assert_eq!(parse("tcp://127.0.0.1:3").inherited(), None);
        assert_eq!(parse("unix://./fd:3").inherited(), None);
        let msg = error("tcp://fd:a/b");
        assert!(msg.contains("takes no path"), "{msg}");
        for bad in ["tcp://fd:", "unix://fd:a b", "ws://fd:x!y/"] {
            let msg = error(bad);
            assert!(msg.contains("names no inherited socket"), "{bad}: {msg}");
        }
    }

    fn error(s: &str) -> String {
        match s.parse::<Endpoint>() {
            Ok(e) => panic!("{s} parsed as {e:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn errors_say_what_is_wrong_and_show_an_example() {
        for (input, needle) in [
            ("127.0.0.1:7000", "needs a scheme"),
            ("http://x:1", "unknown scheme"),
            ("tcp://", "needs a host and a port"),
            ("tcp://127.0.0.1", "has no port"),
            ("tcp://127.0.0.1:", "empty port"),
            ("tcp://127.0.0.1:70000", "not a number from 0 to 65535"),
            ("tcp://127.0.0.1:http", "not a number"),
            ("tcp://::1:80", "brackets"),
            ("tcp://[::1:80", "lacks its ']'"),
            ("tcp://[::1]", "has no port"),
            ("tcp://[zz]:1", "not an IPv6 address"),
            ("tcp://bad host:1", "not a valid host name"),
            ("tcp://h:1/path", "takes no path"),
            ("unix://", "needs a socket path"),
            ("ws://h:1/a b", "spaces"),
            ("ws://h:1/a#frag", "fragment"),
        ] {
            let msg = error(input);
            assert!(msg.contains(needle), "{input}: {msg}");
            assert!(msg.contains("for example"), "{input}: {msg}");
        }
    }
}
