//! `duplex connect` lines over UDP and WebSocket: a UDP datagram carries
//! its line with the line break, as `nc -u` sends it (`--strip-newline`:
//! the bare line); a WebSocket message carries the line without it; and
//! duplex's own UDP services answer both forms alike.

mod common;
mod connect_peers;

use std::net::UdpSocket;
use std::thread;
use std::time::Duration;

use common::*;
use connect_peers::*;
use serde_json::json;

/// A UDP socket that records every datagram it receives (until `count` or
/// a second of silence) and answers each with `ok`.
fn udp_recorder(count: usize) -> (String, thread::JoinHandle<Vec<Vec<u8>>>) {
    let server = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let url = format!("udp://{}", server.local_addr().expect("addr"));
    server
        .set_read_timeout(Some(Duration::from_secs(1)))
        .expect("timeout");
    let handle = thread::spawn(move || {
        let mut got = Vec::new();
        let mut buf = vec![0u8; 70_000];
        // The first datagram may take a while: the client is starting.
        server.set_read_timeout(Some(WAIT)).expect("timeout");
        while got.len() < count {
            let Ok((n, peer)) = server.recv_from(&mut buf) else {
                break;
            };
            got.push(buf[..n].to_vec());
            let _ = server.send_to(b"ok", peer);
            server
                .set_read_timeout(Some(Duration::from_secs(1)))
                .expect("timeout");
        }
        got
    });
    (url, handle)
}

#[test]
fn udp_lines_are_read_by_an_nc_u_server_as_lines() {
    let port = closed_udp_port().to_string();
    // nc prints every datagram as it came, with nothing added.
    let mut srv = Interactive::spawn({
        let mut nc = nc();
        nc.args(["-u", "-l", "127.0.0.1", &port]);
        nc
    });
    thread::sleep(Duration::from_millis(300));
    let mut c = Interactive::spawn(connect(&[&format!("udp://127.0.0.1:{port}")]));
    c.write(b"first\n");
    assert_eq!(srv.read_line(WAIT), "first");
    // An empty line is a datagram of its own: "\n", never nothing.
    c.write(b"\nthird line\n");
    assert_eq!(srv.read_line(WAIT), "");
    assert_eq!(srv.read_line(WAIT), "third line");
}

#[test]
fn strip_newline_sends_bare_lines() {
    let (url, recorder) = udp_recorder(4);
    let out = run_with_input(
        connect(&[&url, "--strip-newline", "--wait", "300ms"]),
        b"first\nsecond line\r\n\nlast without newline",
        WAIT,
    );
    let got = recorder.join().expect("recorder");
    assert_eq!(
        got,
        [&b"first"[..], b"second line", b"", b"last without newline"]
    );
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert_eq!(out.stdout_str(), "ok\nok\nok\nok\n");
}

#[test]
fn a_line_too_long_for_a_datagram_is_dropped_with_one_line_and_the_rest_is_sent() {
    let (url, recorder) = udp_recorder(2);
    let mut input = vec![b'x'; 70_000];
    input.extend_from_slice(b"\nafter\n");
    let out = run_with_input(connect(&[&url, "--wait", "300ms"]), &input, WAIT);
    let got = recorder.join().expect("recorder");
    assert_eq!(got, [b"after\n".to_vec()]);
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert_one_line(&out.stderr, &["70001 bytes", "not sent"]);
}

/// `duplex connect udp://` with `input`, with and without
/// `--strip-newline`: the two outputs.
fn both_forms(url: &str, input: &[u8]) -> [String; 2] {
    [&[][..], &["--strip-newline"][..]].map(|extra| {
        let mut args = vec![url, "--wait", "300ms"];
        args.extend_from_slice(extra);
        let out = run_with_input(connect(&args), input, WAIT);
        assert_eq!(out.code(), Some(0), "{extra:?}: {}", out.stderr);
        out.stdout_str()
    })
}

fn integers(text: &str) -> Vec<i64> {
    text.lines()
        .map(|l| {
            l.parse()
                .unwrap_or_else(|_| panic!("not an integer: {l:?} in {text:?}"))
        })
        .collect()
}

#[test]
fn duplex_udp_services_answer_lines_with_and_without_newline_alike() {
    let random = Server::serve("random", &["udp://127.0.0.1:0"], &[]);
    for out in both_forms(random.url(0), b"2 4 4\n\n5 6\n") {
        let n = integers(&out);
        assert_eq!(n.len(), 4, "{out}");
        assert_eq!(n[..2], [4, 4]);
        assert!((1..=1000).contains(&n[2]), "empty request: {out}");
        assert!((5..=6).contains(&n[3]), "{out}");
    }

    let daytime = Server::serve("daytime", &["udp://127.0.0.1:0"], &["--format", "unix"]);
    for out in both_forms(daytime.url(0), b"now\n\n") {
        assert_eq!(integers(&out).len(), 2, "{out}");
    }

    let counter = Server::serve("counter", &["udp://127.0.0.1:0"], &[]);
    let [with, bare] = both_forms(counter.url(0), b"\nagain\n");
    // Each run is a new UDP peer: counted once, the first time it is seen.
    assert_eq!(integers(&with), [1, 1]);
    assert_eq!(integers(&bare), [2, 2]);

    // Echo returns every datagram as it came; either way each prints as
    // one line.
    let echo = Server::serve("echo", &["udp://127.0.0.1:0"], &[]);
    for out in both_forms(echo.url(0), b"hello\n\nworld\r\n") {
        assert_eq!(out.replace('\r', ""), "hello\n\nworld\n");
    }
}

#[test]
fn websocket_messages_carry_lines_without_their_newline() {
    for extra in [None, Some("--strip-newline")] {
        let mut srv = WsPeer::echo();
        let url = srv.url("/");
        let mut args = vec![url.as_str()];
        args.extend(extra);
        let mut c = Interactive::spawn(connect(&args));
        // Stdin stays open until the echoes are printed: the server
        // answers a close at once, before what it still has to echo.
        c.write(b"one\r\n\nthree");
        assert_eq!(c.read_line(WAIT), "one");
        assert_eq!(c.read_line(WAIT), "");
        // The last line, unterminated, goes at stdin EOF with the close;
        // its echo may or may not come before the server's close.
        c.close_stdin();
        let rest = c.read_to_end(WAIT);
        assert!(rest.is_empty() || rest == b"three\n", "{rest:?}");
        let status = c.wait(WAIT).expect("connect exits at stdin EOF");
        assert_eq!(status.code(), Some(0), "{}", c.stderr());
        assert_eq!(srv.next()["request"], "/");
        for text in ["one", "", "three"] {
            assert_eq!(srv.next(), json!({"type": "text", "data": text}));
        }
        assert_eq!(srv.next(), json!({"close": 1000}));
    }
}
