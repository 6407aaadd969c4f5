//! `duplex bridge FROM TO` (docs/behaviour.md, "Relaying"): the promises of
//! the contract one by one: TO dialled before anything is relayed,
//! half-close passed on, one upstream per UDP client, chunking and
//! `--lines`, the PROXY header, the limits. The 36 pairs of transports are
//! in `bridge_matrix.rs`, WebSocket's own promises in `bridge_ws.rs`.

mod bridgeutil;
mod common;
mod tlsutil;

use std::io::{Read, Write};
use std::net::{TcpListener, UdpSocket};

use bridgeutil::*;
use common::*;

/// A TCP upstream the test plays by hand.
fn tcp_upstream() -> (TcpListener, String) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("tcp://{}", l.local_addr().expect("addr"));
    (l, url)
}

fn accept(l: &TcpListener) -> std::net::TcpStream {
    l.set_nonblocking(false).expect("blocking");
    let (s, _) = l.accept().expect("the bridge connects upstream");
    s.set_read_timeout(Some(WAIT)).expect("timeout");
    s
}

#[test]
fn upstream_is_dialled_before_the_client_sends_anything() {
    let (l, url) = tcp_upstream();
    let b = bridge("tcp://127.0.0.1:0", &url, &[]);
    let _client = Conn::to(bridge_url(&b));
    l.set_nonblocking(true).expect("nonblocking");
    let dialled = eventually(WAIT, || l.accept().is_ok());
    assert!(dialled, "no upstream connection for a silent client");
}

#[test]
fn half_close_is_passed_on_and_the_session_ends_when_both_directions_are_done() {
    let (l, url) = tcp_upstream();
    let b = bridge("tcp://127.0.0.1:0", &url, &[]);
    let mut client = Conn::to(bridge_url(&b));
    let mut up = accept(&l);
    client.send(b"request");
    client.shutdown_write();
    // The upstream sees the request, then the end of it...
    let mut got = Vec::new();
    up.read_to_end(&mut got).expect("read to the client's EOF");
    assert_eq!(got, b"request");
    // ...and can still answer, which reaches the client, then ends.
    up.write_all(b"answer").expect("answer after EOF");
    client.expect_silence(BRIEF);
    drop(up);
    match client.try_read_line(WAIT) {
        Read1::Eof(rest) => assert_eq!(rest, b"answer"),
        other => panic!("expected the answer and EOF, got {other:?}"),
    }
    let line = log_lines(&b, &["session closed"], 1);
    assert!(line[0].contains("client closed first"), "{line:?}");
    assert!(
        line[0].contains("bytes_in=7") && line[0].contains("bytes_out=6"),
        "{line:?}"
    );
    assert!(line[0].contains(&format!("upstream={url}")), "{line:?}");
}

#[test]
fn a_udp_client_gets_its_own_upstream_until_it_is_idle() {
    let (l, url) = tcp_upstream();
    let b = bridge(
        "udp://127.0.0.1:0",
        &url,
        &["--idle-timeout", "1s", "--metrics", "tcp://127.0.0.1:0"],
    );
    let from = socket_addr(bridge_url(&b));
    let one = Udp::to(from);
    let two = Udp::to(from);
    one.send(b"one\n");
    let mut up1 = accept(&l);
    two.send(b"two\n");
    let mut up2 = accept(&l);
    let mut buf = [0u8; 16];
    let n = up1.read(&mut buf).expect("first client's datagram");
    assert_eq!(&buf[..n], b"one\n");
    let n = up2.read(&mut buf).expect("second client's datagram");
    assert_eq!(&buf[..n], b"two\n");
    // Each upstream answers its own client only.
    up2.write_all(b"to two").expect("write");
    assert_eq!(two.recv(), b"to two");
    assert_eq!(one.try_recv(BRIEF), None);
    // The same client again: the same upstream.
    one.send(b"again");
    let n = up1.read(&mut buf).expect("again");
    assert_eq!(&buf[..n], b"again");
    // Quiet for --idle-timeout: both sessions end and close their upstream.
    assert_eq!(up1.read(&mut buf).expect("EOF"), 0);
    assert_eq!(up2.read(&mut buf).expect("EOF"), 0);
    sessions_end(b.url(0), "udp");
    log_lines(
        &b,
        &["session closed", "idle timeout", "transport=\"udp\""],
        2,
    );
    // It comes back: a new session, a new upstream.
    one.send(b"back");
    let mut up3 = accept(&l);
    let n = up3.read(&mut buf).expect("back");
    assert_eq!(&buf[..n], b"back");
}

#[test]
fn udp_clients_beyond_max_connections_are_dropped_and_counted() {
    let upstream = Server::serve("echo", &["udp://127.0.0.1:0"], &[]);
    let b = bridge(
        "udp://127.0.0.1:0",
        upstream.url(0),
        &["--max-connections", "1", "--metrics", "tcp://127.0.0.1:0"],
    );
    let from = socket_addr(bridge_url(&b));
    let one = Udp::to(from);
    let two = Udp::to(from);
    assert_eq!(one.ask("first"), "first");
    two.send(b"second");
    assert_eq!(two.try_recv(BRIEF), None, "a second session over the limit");
    assert_eq!(one.ask("still"), "still");
    let text = metrics(b.url(0));
    let key = "duplex_connections_refused_total{service=\"bridge\",transport=\"udp\"}";
    assert_eq!(sample(&text, key), Some(1), "{text}");
}

#[test]
fn a_stream_is_cut_into_datagrams_of_at_most_the_buffer_size() {
    let up = UdpSocket::bind("127.0.0.1:0").expect("bind");
    up.set_read_timeout(Some(WAIT)).expect("timeout");
    let url = format!("udp://{}", up.local_addr().expect("addr"));
    let b = bridge("tcp://127.0.0.1:0", &url, &["--buffer-size", "100"]);
    let mut client = Conn::to(bridge_url(&b));
    let data = binary(1000);
    client.send(&data);
    let mut got = Vec::new();
    let mut buf = [0u8; 2048];
    let mut peer = None;
    while got.len() < data.len() {
        let (n, from) = up.recv_from(&mut buf).expect("a datagram");
        assert!(n <= 100, "a datagram of {n} bytes");
        got.extend_from_slice(&buf[..n]);
        peer = Some(from);
    }
    assert_eq!(got, data);
    // A datagram back is written to the stream as it is.
    up.send_to(b"reply", peer.expect("peer")).expect("send");
    assert_eq!(client.read_exact_within(5, WAIT), b"reply");
}

#[test]
fn lines_make_one_datagram_each_and_datagrams_come_back_as_lines() {
    let up = UdpSocket::bind("127.0.0.1:0").expect("bind");
    up.set_read_timeout(Some(WAIT)).expect("timeout");
    let url = format!("udp://{}", up.local_addr().expect("addr"));
    let b = bridge("tcp://127.0.0.1:0", &url, &["--lines"]);
    let mut client = Conn::to(bridge_url(&b));
    client.send(b"a\nbb\r\nccc\n");
    let mut buf = [0u8; 64];
    let mut peer = None;
    for want in [&b"a\n"[..], b"bb\r\n", b"ccc\n"] {
        let (n, from) = up.recv_from(&mut buf).expect("a datagram");
        assert_eq!(&buf[..n], want);
        peer = Some(from);
    }
    let peer = peer.expect("peer");
    up.send_to(b"no line break", peer).expect("send");
    up.send_to(b"has one\n", peer).expect("send");
    assert_eq!(client.read_line(), "no line break");
    assert_eq!(client.read_line(), "has one");
    // A last line without a line break is sent at the client's EOF.
    client.send(b"last");
    client.shutdown_write();
    let (n, _) = up.recv_from(&mut buf).expect("the last line");
    assert_eq!(&buf[..n], b"last");
}

/// A client of a `--send-proxy VERSION` bridge, and the upstream
/// connection the bridge made for it.
fn through_send_proxy(version: &str) -> (std::net::TcpStream, std::net::TcpStream, Server) {
    let (l, url) = tcp_upstream();
    let b = bridge("tcp://127.0.0.1:0", &url, &["--send-proxy", version]);
    let client = std::net::TcpStream::connect(socket_addr(bridge_url(&b))).expect("connect");
    let up = accept(&l);
    (client, up, b)
}

#[test]
fn send_proxy_v1_starts_the_upstream_with_the_client_address() {
    let (mut client, mut up, b) = through_send_proxy("v1");
    let c = client.local_addr().expect("client address");
    let want = format!(
        "PROXY TCP4 {} 127.0.0.1 {} {}\r\n",
        c.ip(),
        c.port(),
        socket_addr(bridge_url(&b)).port()
    );
    let mut header = vec![0u8; want.len()];
    up.read_exact(&mut header).expect("the header");
    assert_eq!(String::from_utf8_lossy(&header), want);
    // Then the client's own bytes.
    client.write_all(b"payload").expect("write");
    let mut rest = [0u8; 7];
    up.read_exact(&mut rest).expect("payload");
    assert_eq!(&rest, b"payload");
}

#[test]
fn send_proxy_v2_starts_the_upstream_with_the_binary_header() {
    let (client, mut up, b) = through_send_proxy("v2");
    let c = client.local_addr().expect("client address");
    let mut want = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    // Version 2, PROXY; IPv4 over a stream; 12 bytes of addresses.
    want.extend([0x21, 0x11, 0, 12]);
    let std::net::IpAddr::V4(ip) = c.ip() else {
        panic!("an IPv4 client");
    };
    want.extend(ip.octets());
    want.extend([127, 0, 0, 1]);
    want.extend(c.port().to_be_bytes());
    want.extend(socket_addr(bridge_url(&b)).port().to_be_bytes());
    let mut header = vec![0u8; want.len()];
    up.read_exact(&mut header).expect("the header");
    assert_eq!(header, want);
}

/// Behind a balancer (`--proxy-protocol` on FROM), the client its PROXY
/// header names is the one `--send-proxy` passes on and the log names.
#[test]
fn a_client_named_by_a_proxy_header_is_passed_on_by_send_proxy() {
    let (l, url) = tcp_upstream();
    let extra = ["--proxy-protocol", "--send-proxy", "v1"];
    let b = bridge("tcp://127.0.0.1:0", &url, &extra);
    let from = socket_addr(bridge_url(&b));
    let mut client = std::net::TcpStream::connect(from).expect("connect");
    client
        .write_all(b"PROXY TCP4 192.0.2.7 127.0.0.1 4444 443\r\npayload")
        .expect("write");
    let mut up = accept(&l);
    let header = format!("PROXY TCP4 192.0.2.7 127.0.0.1 4444 {}\r\n", from.port());
    let mut got = vec![0u8; header.len() + b"payload".len()];
    up.read_exact(&mut got).expect("the header and the payload");
    assert_eq!(String::from_utf8_lossy(&got), format!("{header}payload"));
    drop((client, up));
    log_lines(&b, &["peer=192.0.2.7:4444 proxy=127.0.0.1:"], 1);
    // Without the header, nothing reaches TO.
    let mut bare = std::net::TcpStream::connect(from).expect("connect");
    bare.write_all(b"hello\r\n").expect("write");
    l.set_nonblocking(true).expect("nonblocking");
    std::thread::sleep(BRIEF);
    assert!(l.accept().is_err(), "a client without a header was relayed");
}

/// `--reuse-port`: two bridges share FROM's port; without it the second
/// cannot bind.
#[test]
fn bridges_with_reuse_port_share_a_port() {
    let (_l, url) = tcp_upstream();
    let a = bridge("tcp://127.0.0.1:0", &url, &["--reuse-port"]);
    let from = bridge_url(&a).to_string();
    let _b = bridge(&from, &url, &["--reuse-port"]);
    let out = run_duplex(&["bridge", &from, &url], WAIT);
    assert_eq!(out.code(), Some(1), "{}", out.stderr);
}

#[test]
fn proxy_protocol_on_a_udp_from_is_a_usage_error() {
    let args = [
        "bridge",
        "udp://127.0.0.1:0",
        "tcp://127.0.0.1:1",
        "--proxy-protocol",
    ];
    let out = run_duplex(&args, WAIT);
    assert_eq!(out.code(), Some(2), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("--proxy-protocol reads a header at the start of a stream"),
        "{}",
        out.stderr
    );
}

#[test]
fn options_that_change_nothing_are_usage_errors() {
    let cases: [(&[&str], &str); 8] = [
        (
            &["tcp://127.0.0.1:0", "tcp://127.0.0.1:1", "--text"],
            "--text applies where bytes become WebSocket messages",
        ),
        (
            &["ws://127.0.0.1:0/", "ws://127.0.0.1:1/", "--text"],
            "--text applies where bytes become WebSocket messages",
        ),
        (
            &["ws://127.0.0.1:0/", "udp://127.0.0.1:1", "--lines"],
            "--lines applies where a stream meets UDP or WebSocket",
        ),
        (
            &[
                "tcp://127.0.0.1:0",
                "udp://127.0.0.1:1",
                "--send-proxy",
                "v1",
            ],
            "--send-proxy starts an upstream stream",
        ),
        (
            &[
                "udp://127.0.0.1:0",
                "tcp://127.0.0.1:1",
                "--send-proxy",
                "v1",
            ],
            "use v2",
        ),
        (
            &["tcp://127.0.0.1:0", "tcp://127.0.0.1:1", "--lines"],
            "--lines applies where a stream meets UDP or WebSocket",
        ),
        (
            &["tcp://127.0.0.1:0", "tcp://127.0.0.1:1", "--insecure"],
            "apply to a tls:// or wss:// TO",
        ),
        (
            &[
                "tcp://127.0.0.1:0",
                "tcp://127.0.0.1:1",
                "--buffer-size",
                "0",
            ],
            "--buffer-size must be between",
        ),
    ];
    for (args, want) in cases {
        let mut all = vec!["bridge"];
        all.extend_from_slice(args);
        let out = run_duplex(&all, WAIT);
        assert_eq!(out.code(), Some(2), "{args:?}: {out:?}");
        assert!(out.stderr.contains(want), "{args:?}: {}", out.stderr);
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    let out = run_duplex(&["bridge", "tls://127.0.0.1:0", "tcp://127.0.0.1:1"], WAIT);
    assert_eq!(out.code(), Some(1), "{out:?}");
    assert!(
        out.stderr.contains("TLS needs --tls-cert and --tls-key"),
        "{}",
        out.stderr
    );
}

#[test]
fn shutdown_ends_open_sessions_and_exits_0() {
    let (l, url) = tcp_upstream();
    let mut b = bridge("tcp://127.0.0.1:0", &url, &["--shutdown-timeout", "3s"]);
    let mut client = Conn::to(bridge_url(&b));
    let mut up = accept(&l);
    client.send(b"in flight");
    let mut buf = [0u8; 9];
    up.read_exact(&mut buf).expect("relayed");
    b.signal(libc::SIGTERM);
    // Both sides are closed (FIN), and the process is done well within
    // --shutdown-timeout.
    client.expect_eof(WAIT);
    let mut rest = Vec::new();
    up.read_to_end(&mut rest).expect("upstream EOF");
    let status = b.wait_exit(WAIT).expect("exits");
    assert_eq!(status.code(), Some(0), "{}", b.stderr());
    assert!(
        b.stderr().contains("reason=server shutdown"),
        "{}",
        b.stderr()
    );
    assert!(b.stderr().contains("shutdown complete"), "{}", b.stderr());
}

#[test]
fn bridges_of_a_configuration_file_run_beside_its_listeners() {
    let dir = tempdir();
    let port = closed_port();
    let file = dir.path().join("duplex.toml");
    std::fs::write(
        &file,
        format!(
            "[limits]\nidle_timeout = \"30s\"\n\n[[listener]]\nservice = \"echo\"\nurls = [\"tcp://127.0.0.1:{port}\"]\n\n\
             [[bridge]]\nfrom = \"udp://127.0.0.1:0\"\nto = \"tcp://127.0.0.1:{port}\"\nlines = true\nbuffer_size = 4096\n"
        ),
    )
    .expect("write the configuration");
    let s = Server::start(&["serve", "--config", &file.display().to_string()], 2);
    let names: Vec<&str> = s.listening.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["echo", "bridge"]);
    // A datagram to the bridge reaches the echo listener of the same
    // process and comes back, a line each way.
    let client = Udp::to(s.addr(1));
    assert_eq!(client.ask("round trip\n"), "round trip\n");
}
