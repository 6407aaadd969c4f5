//! The PROXY protocol header (HAProxy's, versions 1 and 2) with which
//! `--send-proxy` starts every upstream stream, so that the upstream learns
//! the client's address rather than the relay's. Built with the `ppp`
//! crate.
//!
//! A client without an IP address (a Unix socket's peer) is sent as HAProxy
//! sends one: `PROXY UNKNOWN` in version 1, the LOCAL command without
//! addresses in version 2 (the upstream then goes by the connection
//! itself). Version 2 says whether the client came over a stream or over
//! UDP; version 1 knows TCP only, so it is refused for UDP clients when
//! the bridge is set up.

use std::io;
use std::net::SocketAddr;

use ppp::v2::{Builder, Command, Protocol, Version};

/// A PROXY protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SendProxy {
    V1,
    V2,
}

/// How the client reached the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    /// The client's address (`None`: a Unix socket's peer).
    pub client: Option<SocketAddr>,
    /// The address it reached (the listener's, for UDP).
    pub local: Option<SocketAddr>,
    /// Over UDP rather than a stream.
    pub datagram: bool,
}

/// The header for `origin` in `version`.
pub fn header(version: SendProxy, origin: &Origin) -> io::Result<Vec<u8>> {
    let addresses = match (origin.client, origin.local) {
        (Some(c), Some(l)) => Some((canonical(c), canonical(l))),
        _ => None,
    }
    .filter(|(c, l)| c.is_ipv4() == l.is_ipv4());
    match version {
        SendProxy::V1 => {
            let a = addresses.map_or(ppp::v1::Addresses::Unknown, ppp::v1::Addresses::from);
            Ok(a.to_string().into_bytes())
        }
        SendProxy::V2 => {
            let builder = match addresses {
                Some(a) => {
                    let protocol = if origin.datagram {
                        Protocol::Datagram
                    } else {
                        Protocol::Stream
                    };
                    Builder::with_addresses(Version::Two | Command::Proxy, protocol, a)
                }
                None => Builder::with_addresses(
                    Version::Two | Command::Local,
                    Protocol::Unspecified,
                    ppp::v2::Addresses::Unspecified,
                ),
            };
            builder.build()
        }
    }
}

/// An IPv4 client of a dual-stack socket as the IPv4 address it is.
fn canonical(a: SocketAddr) -> SocketAddr {
    SocketAddr::new(a.ip().to_canonical(), a.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(client: &str, local: &str) -> Origin {
        Origin {
            client: Some(client.parse().expect("client")),
            local: Some(local.parse().expect("local")),
            datagram: false,
        }
    }

    #[test]
    fn version_1_is_the_text_line() {
        let o = origin("127.0.0.1:40000", "127.0.0.1:7000");
        let h = header(SendProxy::V1, &o).expect("v1");
        assert_eq!(h, b"PROXY TCP4 127.0.0.1 127.0.0.1 40000 7000\r\n");
        let o = origin("[::ffff:10.0.0.1]:5", "[::ffff:10.0.0.2]:6");
        let h = header(SendProxy::V1, &o).expect("v1 mapped");
        assert_eq!(h, b"PROXY TCP4 10.0.0.1 10.0.0.2 5 6\r\n");
        let o = origin("[::1]:5", "[::1]:6");
        assert_eq!(
            header(SendProxy::V1, &o).expect("v6"),
            b"PROXY TCP6 ::1 ::1 5 6\r\n"
        );
        let unix = Origin {
            client: None,
            local: None,
            datagram: false,
        };
        assert_eq!(
            header(SendProxy::V1, &unix).expect("unknown"),
            b"PROXY UNKNOWN\r\n"
        );
    }

    #[test]
    fn version_2_is_the_binary_header() {
        let o = origin("127.0.0.1:40000", "127.0.0.2:7000");
        let h = header(SendProxy::V2, &o).expect("v2");
        let mut want = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
        want.extend([0x21, 0x11, 0, 12, 127, 0, 0, 1, 127, 0, 0, 2]);
        want.extend(40000u16.to_be_bytes());
        want.extend(7000u16.to_be_bytes());
        assert_eq!(h, want);
        let udp = Origin {
            datagram: true,
            ..o
        };
        assert_eq!(header(SendProxy::V2, &udp).expect("dgram")[13], 0x12);
        let unix = Origin {
            client: None,
            local: None,
            datagram: false,
        };
        let h = header(SendProxy::V2, &unix).expect("local");
        assert_eq!(&h[12..], [0x20, 0x00, 0, 0]);
    }
}
