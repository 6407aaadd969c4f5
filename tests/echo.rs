//! `echo` (docs/behaviour.md, "Services"): byte-exact and binary-safe on
//! streams, each datagram back unchanged on UDP, no framing and no special
//! words.

mod common;

use std::io::{Read, Write};
use std::thread;
use std::time::Duration;

use common::*;

/// A few MB in which every byte value occurs, in a pattern that is not
/// periodic in any small buffer size (so a dropped or repeated chunk shows).
fn payload(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    (0..len)
        .map(|i| {
            if i < 256 * 4 {
                // Every byte value, including \0, \r, \n and 0xff, up front.
                (i % 256) as u8
            } else {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            }
        })
        .collect()
}

/// Sends `data` from one thread while reading it back in this one.
fn round_trip(mut conn: Conn, data: &[u8]) {
    let mut writer = conn.s.try_clone_box().expect("clone the stream");
    let to_send = data.to_vec();
    let sender = thread::spawn(move || {
        for chunk in to_send.chunks(7919) {
            writer.write_all(chunk).expect("send");
        }
        writer.flush().expect("flush");
    });
    let back = conn.read_exact_within(data.len(), Duration::from_secs(60));
    sender.join().expect("sender thread");
    assert!(back == data, "echoed bytes differ from the bytes sent");
    // Half-close: the server finishes and closes its side too.
    conn.shutdown_write();
    conn.expect_eof(WAIT);
}

#[test]
fn tcp_echo_is_byte_exact_and_binary_safe() {
    let server = Server::serve("echo", &["tcp://127.0.0.1:0"], &[]);
    round_trip(Conn::tcp(server.addr(0)), &payload(4 << 20));
}

#[test]
fn unix_echo_is_byte_exact_and_binary_safe() {
    let dir = tempdir();
    let url = unix_url(dir.path(), "echo.sock");
    let server = Server::serve("echo", &[&url], &[]);
    round_trip(Conn::unix(&server.path(0)), &payload(4 << 20));
}

#[test]
fn echo_has_no_special_words_and_no_framing() {
    let server = Server::serve("echo", &["tcp://127.0.0.1:0"], &["--max-line", "4"]);
    let mut c = Conn::tcp(server.addr(0));
    // STOP is data like any other: echoed, and the connection stays open.
    for word in ["STOP", "STOP ", "QUIT", "ERR x"] {
        assert_eq!(c.ask(word), word);
    }
    // No line framing: bytes without a line break come back as they are, and
    // --max-line (a limit on request lines) does not apply to echo.
    c.send(b"no newline here, longer than max-line");
    let back = c.read_exact_within(37, WAIT);
    assert_eq!(back, b"no newline here, longer than max-line");
    c.send(b"\r\n\r");
    assert_eq!(c.read_exact_within(3, WAIT), b"\r\n\r");
}

#[test]
fn echo_ends_when_the_client_half_closes() {
    let server = Server::serve("echo", &["tcp://127.0.0.1:0"], &[]);
    let mut c = Conn::tcp(server.addr(0));
    c.send(b"last words");
    c.shutdown_write();
    let mut rest = Vec::new();
    c.s.set_read_timeout(Some(WAIT)).expect("timeout");
    c.s.read_to_end(&mut rest).expect("read to EOF");
    assert_eq!(rest, b"last words");
}

#[test]
fn udp_echo_returns_each_datagram_unchanged() {
    let server = Server::serve("echo", &["udp://127.0.0.1:0"], &[]);
    let u = Udp::to(server.addr(0));
    let all: Vec<u8> = (0..=255u8).collect();
    let datagrams: Vec<Vec<u8>> = vec![
        b"hello".to_vec(),
        b"with newline\n".to_vec(),
        b"with crlf\r\n".to_vec(),
        b"STOP".to_vec(),
        b"  spaced  ".to_vec(),
        all,
        vec![0u8; 1],
        vec![b'x'; 60_000],
    ];
    for d in &datagrams {
        u.send(d);
        assert_eq!(
            &u.recv(),
            d,
            "datagram of {} bytes came back changed",
            d.len()
        );
    }
    // An empty datagram is a datagram too.
    u.send(b"");
    assert_eq!(u.recv(), b"");
}

#[test]
fn udp_echo_answers_each_sender() {
    let server = Server::serve("echo", &["udp://127.0.0.1:0"], &[]);
    let a = Udp::to(server.addr(0));
    let b = Udp::to(server.addr(0));
    a.send(b"from a");
    b.send(b"from b");
    assert_eq!(a.recv(), b"from a");
    assert_eq!(b.recv(), b"from b");
}

#[test]
fn one_service_on_tcp_udp_and_unix_at_once() {
    let dir = tempdir();
    let url = unix_url(dir.path(), "e.sock");
    let server = Server::serve(
        "echo",
        &["tcp://127.0.0.1:0", "udp://127.0.0.1:0", &url],
        &[],
    );
    assert_eq!(
        server
            .listening
            .iter()
            .map(|(s, _)| s.as_str())
            .collect::<Vec<_>>(),
        ["echo"; 3]
    );
    assert!(server.url(0).starts_with("tcp://127.0.0.1:"));
    assert!(server.url(1).starts_with("udp://127.0.0.1:"));
    assert_eq!(server.url(2), url);
    assert_eq!(Conn::tcp(server.addr(0)).ask("t"), "t");
    assert_eq!(Udp::to(server.addr(1)).ask("u"), "u");
    assert_eq!(Conn::unix(&server.path(2)).ask("x"), "x");
}
