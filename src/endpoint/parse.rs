//! Parsing URL text into an [`Endpoint`]: the one place that says what is
//! accepted, and why not. Every error names the problem and shows a URL
//! that works, since the same text may come from a command line, the
//! configuration file or a bridge's TO.

use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;

use super::fd::{FdRef, fd_name_error};
use super::host::{Host, HostPort, WsTarget};
use super::url::Endpoint;

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
