//! `duplex connect` (docs/behaviour.md, "Connecting") over TCP, UDP and Unix
//! sockets: full duplex, half-close, datagrams, and one clear line on every
//! failure.
// The crate denies unsafe code; one test here needs listen(2) with a
// backlog of 0, which std cannot set.
#![allow(unsafe_code)]

mod common;
mod connect_peers;

use std::io::{Read, Write};
use std::net::{TcpListener, UdpSocket};
use std::os::unix::net::UnixListener;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use connect_peers::{assert_one_line, connect, full_backlog, late_udp_responder};

/// Asserts a failed connect: non-zero exit, nothing on stdout, exactly one
/// line on stderr containing `want`.
fn assert_one_line_failure(out: &Output, want: &str) {
    assert_ne!(out.code(), Some(0), "{out:?}");
    assert!(out.stdout.is_empty(), "stdout: {:?}", out.stdout_str());
    assert_one_line(&out.stderr, &[want]);
}

#[test]
fn full_duplex_server_output_arrives_while_stdin_is_open() {
    let dir = tempdir();
    let s = Server::serve(
        "daytime",
        &["tcp://127.0.0.1:0", &unix_url(dir.path(), "d.sock")],
        &["--format", "unix"],
    );
    for url in [s.url(0), s.url(1)] {
        let mut c = Interactive::spawn(connect(&[url]));
        // The greeting arrives although stdin is open and nothing was sent.
        let greeting = c.read_line(WAIT);
        assert!(greeting.parse::<i64>().is_ok(), "{greeting}");
        // Each request is answered while stdin stays open.
        for _ in 0..3 {
            c.write(b"time?\n");
            assert!(c.read_line(WAIT).parse::<i64>().is_ok());
        }
        c.write(b"STOP\n");
        assert_eq!(c.read_to_end(WAIT), b"", "nothing after STOP");
        let status = c.wait(WAIT).expect("exits when the server closes");
        assert_eq!(status.code(), Some(0), "{}", c.stderr());
    }
}

#[test]
fn echo_through_connect_line_by_line() {
    let s = Server::serve("echo", &["tcp://127.0.0.1:0"], &[]);
    let mut c = Interactive::spawn(connect(&[s.url(0)]));
    for line in ["one", "two", "three"] {
        c.write(format!("{line}\n").as_bytes());
        assert_eq!(c.read_line(WAIT), line);
    }
    c.close_stdin();
    assert_eq!(c.read_to_end(WAIT), b"");
    assert_eq!(
        c.wait(WAIT).and_then(|s| s.code()),
        Some(0),
        "{}",
        c.stderr()
    );
}

#[test]
fn connect_is_binary_safe_on_streams() {
    let dir = tempdir();
    let s = Server::serve(
        "echo",
        &["tcp://127.0.0.1:0", &unix_url(dir.path(), "e.sock")],
        &[],
    );
    let data: Vec<u8> = (0..(1 << 20))
        .map(|i: u32| (i % 256) as u8 ^ (i >> 8) as u8)
        .collect();
    for url in [s.url(0), s.url(1)] {
        let out = run_with_input(connect(&[url]), &data, Duration::from_secs(30));
        assert_eq!(out.code(), Some(0), "{}", out.stderr);
        assert!(
            out.stdout == data,
            "{url}: {} bytes back, differing",
            out.stdout.len()
        );
    }
}

#[test]
fn stdin_eof_half_closes_and_exit_is_0_when_the_server_closes() {
    // A server that waits for the client's EOF before it answers: only a
    // half-close (not a full close) lets the answer through.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        s.set_read_timeout(Some(WAIT)).expect("timeout");
        let mut got = Vec::new();
        s.read_to_end(&mut got).expect("read to the client's EOF");
        thread::sleep(Duration::from_millis(200));
        s.write_all(format!("got {} bytes, bye\n", got.len()).as_bytes())
            .expect("reply");
    });
    let out = run_with_input(
        connect(&[&format!("tcp://{addr}")]),
        b"hello\nworld\n",
        WAIT,
    );
    server.join().expect("server thread");
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert_eq!(out.stdout_str(), "got 12 bytes, bye\n");
}

#[test]
fn stdin_eof_half_closes_on_unix_sockets_too() {
    let dir = tempdir();
    let path = dir.path().join("h.sock");
    let listener = UnixListener::bind(&path).expect("bind");
    let server = thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        s.set_read_timeout(Some(WAIT)).expect("timeout");
        let mut got = Vec::new();
        s.read_to_end(&mut got).expect("read to the client's EOF");
        s.write_all(&got.iter().rev().copied().collect::<Vec<u8>>())
            .expect("reply");
    });
    let out = run_with_input(
        connect(&[&format!("unix://{}", path.display())]),
        b"abc",
        WAIT,
    );
    server.join().expect("server thread");
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert_eq!(out.stdout, b"cba");
}

#[test]
fn connect_keeps_printing_after_stdin_eof_until_the_server_closes() {
    let s = Server::serve("random", &["tcp://127.0.0.1:0"], &[]);
    let out = run_with_input(
        connect(&[s.url(0)]),
        b"3 1 1\n20000\n",
        Duration::from_secs(30),
    );
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    let text = out.stdout_str();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 20_003);
    assert_eq!(lines[..3], ["1", "1", "1"]);
}

#[test]
fn udp_sends_one_datagram_per_line_and_prints_each_reply() {
    let server = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let addr = server.local_addr().expect("addr");
    server.set_read_timeout(Some(WAIT)).expect("timeout");
    let responder = thread::spawn(move || {
        let mut got = Vec::new();
        let mut buf = [0u8; 2048];
        for _ in 0..4 {
            let (n, peer) = server
                .recv_from(&mut buf)
                .unwrap_or_else(|e| panic!("datagram {} of 4 after {got:?}: {e}", got.len() + 1));
            got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
            // Replies with and without a trailing newline.
            let reply = if got.len() % 2 == 0 {
                format!("re {}\n", got.len())
            } else {
                format!("re {}", got.len())
            };
            server.send_to(reply.as_bytes(), peer).expect("reply");
        }
        got
    });
    let out = run_with_input(
        connect(&[&format!("udp://{addr}"), "--wait", "500ms"]),
        b"first\nsecond line\r\n\nlast without newline",
        WAIT,
    );
    let got = responder.join().expect("responder");
    // Each line as read, line break included (nc -u sends the same).
    assert_eq!(
        got,
        ["first\n", "second line\r\n", "\n", "last without newline"]
    );
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert_eq!(out.stdout_str(), "re 1\nre 2\nre 3\nre 4\n");
}

#[test]
fn udp_waits_for_late_replies_after_stdin_eof() {
    for (wait, delay, printed) in [("1s", 300, true), ("200ms", 2500, false)] {
        let (url, responder) = late_udp_responder(Duration::from_millis(delay));
        let out = run_with_input(connect(&[&url, "--wait", wait]), b"hi\n", WAIT);
        responder.join().expect("responder");
        assert_eq!(out.code(), Some(0), "{}", out.stderr);
        assert_eq!(
            out.stdout_str() == "late\n",
            printed,
            "--wait {wait}, reply after {delay}ms: {:?}",
            out.stdout_str()
        );
        if !printed {
            assert!(
                out.elapsed < Duration::from_millis(2000),
                "--wait {wait} waited {:?}",
                out.elapsed
            );
        }
    }
}

#[test]
fn udp_connect_to_duplex_random() {
    let s = Server::serve("random", &["udp://127.0.0.1:0"], &[]);
    let out = run_with_input(
        connect(&[s.url(0), "--wait", "300ms"]),
        b"2 4 4\n9 3\nSTOP\n",
        WAIT,
    );
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    let text = out.stdout_str();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[..3],
        ["4", "4", "ERR LO 9 is greater than HI 3"],
        "{text}"
    );
    assert!(
        lines[3].starts_with("ERR "),
        "STOP over UDP is an ordinary request: {text}"
    );
    assert_eq!(lines.len(), 4);
}

#[test]
fn refused_tcp_connection_is_one_line_and_non_zero() {
    let url = format!("tcp://127.0.0.1:{}", closed_port());
    let out = run(connect(&[&url]), WAIT);
    assert_one_line_failure(&out, "refused");
    assert!(out.stderr.contains(&url), "{}", out.stderr);
}

#[test]
fn refused_unix_connection_is_one_line_and_non_zero() {
    let dir = tempdir();
    let out = run(connect(&[&unix_url(dir.path(), "nobody.sock")]), WAIT);
    assert_one_line_failure(&out, "no such socket file");
    let path = dir.path().join("stale.sock");
    drop(UnixListener::bind(&path).expect("bind"));
    let out = run(connect(&[&format!("unix://{}", path.display())]), WAIT);
    assert_one_line_failure(&out, "refused");
}

#[test]
fn refused_udp_port_is_one_line_and_non_zero() {
    let port = UdpSocket::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let out = run_with_input(
        connect(&[&format!("udp://127.0.0.1:{port}"), "--wait", "2s"]),
        b"anyone?\n",
        WAIT,
    );
    assert_one_line_failure(&out, "refused");
}

#[test]
fn dns_failure_is_one_line_and_non_zero() {
    // A `.invalid` name never resolves (RFC 2606). In a private network
    // namespace, when the machine allows one, the lookup cannot leave it.
    let isolated = Command::new("unshare")
        .args(["-n", "true"])
        .status()
        .is_ok_and(|s| s.success());
    let cmd = if isolated {
        let mut c = Command::new("unshare");
        c.args(["-n", BIN, "connect", "tcp://no-such-host.invalid:7007"]);
        c
    } else {
        connect(&["tcp://no-such-host.invalid:7007"])
    };
    let out = run(cmd, Duration::from_secs(30));
    assert_one_line_failure(&out, "resolve");
    assert!(
        out.stderr.contains("no-such-host.invalid"),
        "{}",
        out.stderr
    );
}

#[test]
fn connect_timeout_is_one_line_and_non_zero() {
    let backlog = full_backlog();
    let start = Instant::now();
    let out = run(
        connect(&[&format!("tcp://{}", backlog.addr), "--timeout", "300ms"]),
        WAIT,
    );
    assert_one_line_failure(&out, "timed out");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "took {:?}",
        start.elapsed()
    );
}

#[test]
fn timeout_takes_a_duration() {
    let out = run(connect(&["tcp://127.0.0.1:1", "--timeout", "soon"]), WAIT);
    assert_eq!(out.code(), Some(2), "{out:?}");
    assert!(
        out.stderr.contains("500ms"),
        "shows an example: {}",
        out.stderr
    );
}
