//! PROXY protocol v1 and v2 on accepted streams (docs/behaviour.md, "Many
//! instances"): the header names the client in logs; it is read within
//! --proxy-timeout, only from --trusted-proxy sources (a unix listener's
//! peers are trusted), and anything else is closed and counted. Hostile
//! clients included: truncated, untrusted, a byte at a time, oversize v2
//! TLVs, garbage, slowloris.

mod common;
mod fleet;
mod tlsutil;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use common::*;
use fleet::*;
use ppp::v2::{Builder, Command, Protocol, Type, Version};

const CLIENT: &str = "192.0.2.7:40000";

fn v1() -> Vec<u8> {
    b"PROXY TCP4 192.0.2.7 127.0.0.1 40000 7015\r\n".to_vec()
}

fn v2(command: Command, tlv: usize) -> Vec<u8> {
    let addrs: (SocketAddr, SocketAddr) = (
        CLIENT.parse().expect("addr"),
        "127.0.0.1:7015".parse().expect("addr"),
    );
    let mut b = Builder::with_addresses(Version::Two | command, Protocol::Stream, addrs);
    if tlv > 0 {
        b = b.write_tlv(Type::NoOp, &vec![0; tlv]).expect("tlv");
    }
    b.build().expect("header")
}

/// An echo server with --proxy-protocol on `urls`, and metrics first.
fn server(service: &str, urls: &[&str], extra: &[&str]) -> Server {
    let mut args = vec!["serve", service];
    args.extend_from_slice(urls);
    args.extend_from_slice(&["--proxy-protocol", "--metrics", "tcp://127.0.0.1:0"]);
    args.extend_from_slice(extra);
    Server::start(&args, urls.len() + 1)
}

fn metrics(s: &Server) -> String {
    let (status, body) = http_get(s.addr(0), "/metrics");
    assert_eq!(status, 200);
    body
}

fn refused(s: &Server, reason: &str) -> u64 {
    metric(
        &metrics(s),
        &format!("duplex_proxy_refused_total{{reason=\"{reason}\"}}"),
    )
}

/// Waits for the log line of a session whose client was `client`.
fn logged_session(s: &Server, client: &str) -> String {
    let needle = format!("peer={client} proxy=127.0.0.1:");
    let found = eventually(WAIT, || s.stderr().contains(&needle));
    assert!(found, "no session line for {client}: {}", s.stderr());
    s.stderr()
        .lines()
        .find(|l| l.contains(&needle))
        .unwrap_or_default()
        .to_string()
}

/// The connection is closed without a byte of reply.
fn closed_silently<S: Read>(mut s: S) {
    let mut buf = [0u8; 16];
    match s.read(&mut buf) {
        Ok(0) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        other => panic!("expected the server to close: {other:?}"),
    }
}

#[test]
fn v1_and_v2_name_the_client_in_the_session_log() {
    let s = server("echo", &["tcp://127.0.0.1:0"], &[]);
    for header in [v1(), v2(Command::Proxy, 0), v2(Command::Proxy, 100)] {
        let mut c = TcpStream::connect(s.addr(1)).expect("connect");
        c.set_read_timeout(Some(WAIT)).expect("timeout");
        // The header and the first request in one segment.
        c.write_all(&[header.as_slice(), b"hello\n"].concat())
            .expect("write");
        assert_eq!(read_line(&mut c).expect("echo"), "hello");
    }
    let line = logged_session(&s, CLIENT);
    assert!(line.contains("session closed"), "{line}");
    assert_eq!(
        metric(&metrics(&s), "duplex_proxy_headers_total"),
        3,
        "{}",
        metrics(&s)
    );
}

#[test]
fn a_local_header_is_the_proxy_speaking_for_itself() {
    let s = server("counter", &["tcp://127.0.0.1:0"], &[]);
    let mut c = TcpStream::connect(s.addr(1)).expect("connect");
    c.set_read_timeout(Some(WAIT)).expect("timeout");
    c.write_all(&v2(Command::Local, 0)).expect("header");
    assert_eq!(ask_line(&mut c, "").expect("reply"), "1");
    drop(c);
    let ok = eventually(WAIT, || {
        s.stderr().contains("session closed peer=127.0.0.1:")
    });
    assert!(ok, "{}", s.stderr());
    assert!(!s.stderr().contains("proxy="), "{}", s.stderr());
}

#[test]
fn a_header_sent_a_byte_at_a_time_is_read_whole_and_nothing_after_it_is_lost() {
    let s = server("counter", &["tcp://127.0.0.1:0"], &[]);
    for header in [v1(), v2(Command::Proxy, 40)] {
        let mut c = TcpStream::connect(s.addr(1)).expect("connect");
        c.set_read_timeout(Some(WAIT)).expect("timeout");
        c.set_nodelay(true).expect("nodelay");
        for b in header.iter().chain(b"\n") {
            c.write_all(&[*b]).expect("one byte");
            std::thread::sleep(Duration::from_millis(1));
        }
        let reply = read_line(&mut c).expect("reply");
        assert!(reply.parse::<u64>().is_ok(), "{reply}");
    }
    logged_session(&s, CLIENT);
}

#[test]
fn unix_listener_peers_are_trusted_and_named_by_their_header() {
    let dir = tempdir();
    let url = unix_url(dir.path(), "p.sock");
    let s = server("echo", &[&url], &["--trusted-proxy", "10.0.0.0/8"]);
    let mut c = UnixStream::connect(s.path(1)).expect("connect");
    c.set_read_timeout(Some(WAIT)).expect("timeout");
    c.write_all(&[v1().as_slice(), b"over unix\n"].concat())
        .expect("write");
    let mut buf = [0u8; 10];
    c.read_exact(&mut buf).expect("echo");
    assert_eq!(&buf, b"over unix\n");
    drop(c);
    let ok = eventually(WAIT, || {
        s.stderr().contains(&format!("peer={CLIENT} proxy=pid "))
    });
    assert!(ok, "{}", s.stderr());
}

#[test]
fn tls_ws_and_wss_start_after_the_header() {
    let dir = tempdir();
    let cert = tlsutil::make_cert(dir.path());
    let tls_args = tlsutil::tls_args(&cert);
    let mut extra: Vec<&str> = tls_args.iter().map(String::as_str).collect();
    extra.extend_from_slice(&["--trusted-proxy", "127.0.0.1"]);
    let s = server(
        "counter",
        &[
            "tls://127.0.0.1:0",
            "ws://127.0.0.1:0/c",
            "wss://127.0.0.1:0/c",
        ],
        &extra,
    );
    let addr = |i: usize| -> SocketAddr {
        let url = s.url(i);
        let hp = url.split("://").nth(1).expect("scheme");
        hp.split('/')
            .next()
            .expect("host:port")
            .parse()
            .expect("addr")
    };
    {
        // tls://
        let mut tcp = TcpStream::connect(addr(1)).expect("connect");
        tcp.write_all(&v2(Command::Proxy, 0)).expect("header");
        let mut tls = tlsutil::TlsStream::over(tcp, &cert.cert);
        assert_eq!(ask_line(&mut tls, "").expect("tls reply"), "1");
    }
    {
        // ws://
        let mut tcp = TcpStream::connect(addr(2)).expect("connect");
        tcp.set_read_timeout(Some(WAIT)).expect("timeout");
        tcp.write_all(&v1()).expect("header");
        ws_handshake(&mut tcp, "/c").expect("ws handshake");
        assert_eq!(ws_ask(&mut tcp, "").expect("ws reply"), "2");
    }
    {
        // wss://
        let mut tcp = TcpStream::connect(addr(3)).expect("connect");
        tcp.write_all(&v1()).expect("header");
        let mut tls = tlsutil::TlsStream::over(tcp, &cert.cert);
        ws_handshake(&mut tls, "/c").expect("wss handshake");
        assert_eq!(ws_ask(&mut tls, "").expect("wss reply"), "3");
    }
    let ok = eventually(WAIT, || {
        s.stderr().matches(&format!("peer={CLIENT} proxy=")).count() >= 3
    });
    assert!(ok, "{}", s.stderr());
}

#[test]
fn a_header_from_an_untrusted_source_is_refused_and_counted() {
    let s = server(
        "echo",
        &["tcp://127.0.0.1:0"],
        &["--trusted-proxy", "10.0.0.0/8"],
    );
    let mut c = TcpStream::connect(s.addr(1)).expect("connect");
    c.set_read_timeout(Some(WAIT)).expect("timeout");
    let _ = c.write_all(&[v1().as_slice(), b"hello\n"].concat());
    closed_silently(c);
    assert_eq!(refused(&s, "untrusted"), 1);
    // The refusal is counted before its line reaches the log.
    let logged = eventually(WAIT, || s.stderr().contains("not a --trusted-proxy source"));
    assert!(logged, "{}", s.stderr());
}

#[test]
fn a_truncated_header_is_refused_at_once_and_counted() {
    let s = server("echo", &["tcp://127.0.0.1:0"], &["--proxy-timeout", "30s"]);
    for header in [v1(), v2(Command::Proxy, 8)] {
        let mut c = TcpStream::connect(s.addr(1)).expect("connect");
        c.set_read_timeout(Some(WAIT)).expect("timeout");
        c.write_all(&header[..header.len() - 3]).expect("write");
        c.shutdown(std::net::Shutdown::Write).expect("half-close");
        let start = Instant::now();
        closed_silently(c);
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "waited for the timeout"
        );
    }
    assert_eq!(refused(&s, "truncated"), 2);
}

#[test]
fn oversize_and_malformed_v2_tlvs_are_refused_and_counted() {
    let s = server(
        "echo",
        &["tcp://127.0.0.1:0"],
        &["--proxy-max-header", "512"],
    );
    // Refused from its first 16 bytes: the rest is never awaited.
    let mut c = TcpStream::connect(s.addr(1)).expect("connect");
    c.set_read_timeout(Some(WAIT)).expect("timeout");
    c.write_all(&v2(Command::Proxy, 60_000)[..16])
        .expect("write");
    closed_silently(c);
    assert_eq!(refused(&s, "too_large"), 1);
    // A TLV that claims more than the header holds.
    let mut h = v2(Command::Proxy, 8);
    let at = h.len() - 8 - 2;
    h[at..at + 2].copy_from_slice(&300u16.to_be_bytes());
    let mut c = TcpStream::connect(s.addr(1)).expect("connect");
    c.set_read_timeout(Some(WAIT)).expect("timeout");
    c.write_all(&h).expect("write");
    closed_silently(c);
    assert_eq!(refused(&s, "invalid"), 1);
    // Within the limit, TLVs are fine.
    let mut c = TcpStream::connect(s.addr(1)).expect("connect");
    c.set_read_timeout(Some(WAIT)).expect("timeout");
    c.write_all(&[v2(Command::Proxy, 400).as_slice(), b"ok\n"].concat())
        .expect("write");
    assert_eq!(read_line(&mut c).expect("echo"), "ok");
}

#[test]
fn garbage_and_a_missing_header_are_refused_and_counted() {
    let s = server("echo", &["tcp://127.0.0.1:0"], &[]);
    for junk in [
        &b"hello\n"[..],
        b"GET / HTTP/1.1\r\n\r\n",
        b"PROXY TCP4 1.2.3.4\r\n",
        &[0u8; 64],
    ] {
        let mut c = TcpStream::connect(s.addr(1)).expect("connect");
        c.set_read_timeout(Some(WAIT)).expect("timeout");
        c.write_all(junk).expect("write");
        closed_silently(c);
    }
    assert_eq!(refused(&s, "invalid"), 4);
}

#[test]
fn slowloris_within_the_timeout_is_served_and_beyond_it_is_closed() {
    let s = server(
        "echo",
        &["tcp://127.0.0.1:0"],
        &["--proxy-timeout", "1500ms"],
    );
    let header = v1();
    // The whole header in about 0.7 s: served.
    let mut c = TcpStream::connect(s.addr(1)).expect("connect");
    c.set_read_timeout(Some(WAIT)).expect("timeout");
    for chunk in header.chunks(8) {
        c.write_all(chunk).expect("write");
        std::thread::sleep(Duration::from_millis(100));
    }
    c.write_all(b"slow\n").expect("write");
    assert_eq!(read_line(&mut c).expect("echo"), "slow");
    // A byte every 200 ms never finishes in time: closed at the timeout,
    // and the others are served meanwhile.
    let mut slow = TcpStream::connect(s.addr(1)).expect("connect");
    slow.set_read_timeout(Some(WAIT)).expect("timeout");
    let start = Instant::now();
    for b in &header[..10] {
        if slow.write_all(&[*b]).is_err() {
            break;
        }
        let mut other = TcpStream::connect(s.addr(1)).expect("connect");
        other.set_read_timeout(Some(WAIT)).expect("timeout");
        other
            .write_all(&[v1().as_slice(), b"x\n"].concat())
            .expect("write");
        assert_eq!(read_line(&mut other).expect("echo"), "x");
        std::thread::sleep(Duration::from_millis(200));
    }
    closed_silently(slow);
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(1400), "closed after {took:?}");
    assert!(took < Duration::from_secs(5), "closed after {took:?}");
    assert_eq!(refused(&s, "timeout"), 1);
    // A client that sends nothing at all is closed at the timeout too.
    let silent = TcpStream::connect(s.addr(1)).expect("connect");
    silent.set_read_timeout(Some(WAIT)).expect("timeout");
    closed_silently(silent);
    assert_eq!(refused(&s, "timeout"), 2);
}

#[test]
fn proxy_options_are_checked() {
    for (args, needle) in [
        (
            &["--proxy-timeout", "0"][..],
            "proxy-timeout must be longer than 0",
        ),
        (
            &["--proxy-max-header", "16"],
            "proxy-max-header must be at least 107",
        ),
        (
            &["--trusted-proxy", "10.0.0.0/33"],
            "not an address or CIDR block",
        ),
    ] {
        let mut all = vec!["serve", "echo", "tcp://127.0.0.1:0", "--proxy-protocol"];
        all.extend_from_slice(args);
        let out = run_duplex(&all, WAIT);
        assert_eq!(out.code(), Some(2), "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(needle), "{args:?}: {}", out.stderr);
    }
    let out = run_duplex(
        &["serve", "echo", "udp://127.0.0.1:0", "--proxy-protocol"],
        WAIT,
    );
    assert_eq!(out.code(), Some(1), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("--proxy-protocol is for stream listeners"),
        "{}",
        out.stderr
    );
}
