//! PROXY protocol headers (HAProxy's text v1 and binary v2): the few bytes
//! a load balancer sends before anything else on a connection, saying which
//! client it is relaying. Parsing only, over whatever bytes have arrived so
//! far; the server reads them in `server/proxied.rs`.
//!
//! The parsing is `ppp`'s (HAProxy's specification, maintained, and the
//! same crate that builds headers for `--send-proxy`); this module adds
//! what a server needs on top: a verdict on a partial buffer (wait for more,
//! or give up), the length of the header so that exactly it is consumed,
//! the bound on a v2 header's size, a check of every v2 TLV, and the client
//! address as a [`SocketAddr`].

use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};

use ppp::v2::Command;

/// A v1 header is at most this long (the specification's bound).
pub const V1_MAX: usize = 107;
/// The fixed part of a v2 header: signature, version and command, family
/// and protocol, length.
pub const V2_FIXED: usize = 16;

/// What the bytes received so far make of a PROXY header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// A whole header of `len` bytes. `client` is the address it carries,
    /// or `None` when the connection is the proxy's own (v2 `LOCAL`, as in
    /// health checks; v1 `UNKNOWN`; a family other than IPv4 and IPv6).
    Header {
        len: usize,
        client: Option<SocketAddr>,
    },
    /// The start of a header: more bytes are needed. `len` is the whole
    /// header's length once it is known (v2, after 16 bytes).
    Incomplete { len: Option<usize> },
    /// Not a PROXY header, or a malformed one.
    Invalid(String),
    /// A v2 header longer than the limit; its length.
    TooLarge(usize),
}

/// Parses the start of a connection's bytes as a PROXY header, accepting a
/// v2 header of at most `max` bytes (v1 headers are at most [`V1_MAX`]).
/// Bytes after the header are left alone: they are the client's.
pub fn parse(buf: &[u8], max: usize) -> Parsed {
    if is_prefix_either_way(buf, V2_SIGNATURE) {
        parse_v2(buf, max)
    } else if is_prefix_either_way(buf, V1_PREFIX) {
        parse_v1(buf)
    } else {
        Parsed::Invalid("not a PROXY header".into())
    }
}

/// A v1 header is one line: it is parsed once its `\r\n` has come, so
/// that a field cut short by the network is never taken for a bad one.
fn parse_v1(buf: &[u8]) -> Parsed {
    let window = &buf[..buf.len().min(V1_MAX)];
    let Some(cr) = window.windows(2).position(|w| w == b"\r\n") else {
        return if buf.len() >= V1_MAX {
            Parsed::Invalid(format!("no line end in the first {V1_MAX} bytes"))
        } else {
            Parsed::Incomplete { len: None }
        };
    };
    match ppp::v1::Header::try_from(&buf[..cr + 2]) {
        Ok(h) => Parsed::Header {
            len: cr + 2,
            client: match h.addresses {
                ppp::v1::Addresses::Tcp4(a) => Some(v4(a.source_address, a.source_port)),
                ppp::v1::Addresses::Tcp6(a) => Some(v6(a.source_address, a.source_port)),
                ppp::v1::Addresses::Unknown => None,
            },
        },
        Err(e) => Parsed::Invalid(format!("a malformed v1 header: {e}")),
    }
}

/// A v2 header says its length in its first 16 bytes: one too long is
/// refused before it is waited for, and one is parsed once it is whole.
fn parse_v2(buf: &[u8], max: usize) -> Parsed {
    if buf.len() < V2_FIXED {
        return Parsed::Incomplete { len: None };
    }
    let len = V2_FIXED + usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    if len > max {
        return Parsed::TooLarge(len);
    }
    // Before the whole header is there, ppp still checks the version,
    // command, family and protocol of the fixed part.
    let h = match ppp::v2::Header::try_from(&buf[..len.min(buf.len())]) {
        Ok(h) => h,
        Err(ppp::v2::ParseError::Partial(..)) => return Parsed::Incomplete { len: Some(len) },
        Err(e) => return Parsed::Invalid(format!("a malformed v2 header: {e}")),
    };
    if let Some(Err(e)) = h.tlvs().find(Result::is_err) {
        return Parsed::Invalid(format!("a malformed v2 TLV: {e}"));
    }
    let client = match (h.command, h.addresses) {
        (Command::Local, _) => None,
        (Command::Proxy, ppp::v2::Addresses::IPv4(a)) => Some(v4(a.source_address, a.source_port)),
        (Command::Proxy, ppp::v2::Addresses::IPv6(a)) => Some(v6(a.source_address, a.source_port)),
        (Command::Proxy, _) => None,
    };
    Parsed::Header { len, client }
}

/// True when one of `buf` and `prefix` starts with the other.
fn is_prefix_either_way(buf: &[u8], prefix: &[u8]) -> bool {
    let n = buf.len().min(prefix.len());
    buf[..n] == prefix[..n]
}

/// What every v1 header starts with.
const V1_PREFIX: &[u8] = b"PROXY ";
/// The 12 bytes every v2 header starts with.
const V2_SIGNATURE: &[u8] = b"\r\n\r\n\0\r\nQUIT\n";

fn v4(ip: std::net::Ipv4Addr, port: u16) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(ip, port))
}

fn v6(ip: std::net::Ipv6Addr, port: u16) -> SocketAddr {
    SocketAddr::V6(SocketAddrV6::new(ip, port, 0, 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ppp::v2::{Builder, Protocol, Type};

    const MAX: usize = 4096;

    fn v2(command: Command, tlv: Option<&[u8]>) -> Vec<u8> {
        let addrs: (SocketAddr, SocketAddr) = (
            "192.0.2.7:40000".parse().expect("addr"),
            "127.0.0.1:7015".parse().expect("addr"),
        );
        let mut b =
            Builder::with_addresses(ppp::v2::Version::Two | command, Protocol::Stream, addrs);
        if let Some(value) = tlv {
            b = b.write_tlv(Type::NoOp, value).expect("tlv");
        }
        b.build().expect("header")
    }

    #[test]
    fn v1_with_the_client_request_after_it() {
        let mut buf = b"PROXY TCP4 192.0.2.7 127.0.0.1 40000 7015\r\n".to_vec();
        let len = buf.len();
        buf.extend_from_slice(b"hello\n");
        assert_eq!(
            parse(&buf, MAX),
            Parsed::Header {
                len,
                client: Some("192.0.2.7:40000".parse().expect("addr"))
            }
        );
        let six = b"PROXY TCP6 2001:db8::1 ::1 5 6\r\n";
        assert_eq!(
            parse(six, MAX),
            Parsed::Header {
                len: six.len(),
                client: Some("[2001:db8::1]:5".parse().expect("addr"))
            }
        );
        assert_eq!(
            parse(b"PROXY UNKNOWN\r\n", MAX),
            Parsed::Header {
                len: 15,
                client: None
            }
        );
    }

    #[test]
    fn every_prefix_of_a_header_waits_for_more() {
        for header in [
            b"PROXY TCP4 192.0.2.7 127.0.0.1 40000 7015\r\n".to_vec(),
            v2(Command::Proxy, Some(b"pad")),
        ] {
            for cut in 0..header.len() {
                assert!(
                    matches!(parse(&header[..cut], MAX), Parsed::Incomplete { .. }),
                    "{cut}: {:?}",
                    parse(&header[..cut], MAX)
                );
            }
            assert!(matches!(
                parse(&header, MAX),
                Parsed::Header { len, client: Some(_) } if len == header.len()
            ));
        }
    }

    #[test]
    fn v2_local_and_proxy() {
        let h = v2(Command::Local, None);
        assert_eq!(
            parse(&h, MAX),
            Parsed::Header {
                len: h.len(),
                client: None
            }
        );
        let h = v2(Command::Proxy, Some(&[1, 2, 3]));
        assert_eq!(
            parse(&h, MAX),
            Parsed::Header {
                len: h.len(),
                client: Some("192.0.2.7:40000".parse().expect("addr"))
            }
        );
    }

    #[test]
    fn garbage_bad_tlvs_and_oversize_headers_are_refused() {
        for junk in [
            &b"GET / HTTP/1.1\r\n"[..],
            b"hello\n",
            b"PROXY TCP4 1.2.3.4\r\n",
            b"PROXY TCP9 1.2.3.4 5.6.7.8 1 2\r\n",
            b"\r\n\r\n\0\r\nQUIT\n\x31\x11\0\x0c",
        ] {
            assert!(
                matches!(parse(junk, MAX), Parsed::Invalid(_)),
                "{junk:?}: {:?}",
                parse(junk, MAX)
            );
        }
        // A v1 line that never ends.
        let long = [b"PROXY TCP4 ".as_slice(), &[b'1'; 200]].concat();
        assert!(matches!(parse(&long, MAX), Parsed::Invalid(_)));
        // A TLV whose length runs past the end of the header.
        let mut h = v2(Command::Proxy, Some(&[9; 8]));
        let tlv_len = h.len() - 8 - 2;
        h[tlv_len..tlv_len + 2].copy_from_slice(&500u16.to_be_bytes());
        assert!(
            matches!(parse(&h, MAX), Parsed::Invalid(_)),
            "{:?}",
            parse(&h, MAX)
        );
        // Over the limit: refused from its first 16 bytes.
        let big = v2(Command::Proxy, Some(&[0; 5000]));
        assert_eq!(parse(&big[..16], MAX), Parsed::TooLarge(big.len()));
    }
}
