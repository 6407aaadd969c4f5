//! `duplex connect -z` (nc's zero-I/O mode): connect, complete the TLS and
//! WebSocket handshakes, close; exit 0 when it worked, 1 with one line when
//! not. Over UDP: a reply or silence is 0 (silence said on stderr), an ICMP
//! port unreachable is 1.

mod common;
mod connect_peers;
mod tlsutil;

use std::io::Read;
use std::net::{TcpListener, UdpSocket};
use std::os::unix::net::UnixListener;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use common::*;
use connect_peers::*;
use serde_json::json;
use tlsutil::{make_cert, tls_args};

/// Asserts `-z` succeeded in silence.
fn assert_open(out: &Output) {
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert!(out.stdout.is_empty(), "{:?}", out.stdout_str());
    assert!(out.stderr.is_empty(), "{}", out.stderr);
}

/// Asserts `-z` failed with exit 1 and one line containing `want`.
fn assert_closed(out: &Output, want: &str) {
    assert_eq!(out.code(), Some(1), "{}", out.stderr);
    assert!(out.stdout.is_empty(), "{:?}", out.stdout_str());
    assert_one_line(&out.stderr, &[want]);
}

/// Accepts one connection and reports the bytes it sent before its EOF.
fn accept_one<L, S>(listener: L, accept: fn(&L) -> std::io::Result<S>) -> mpsc::Receiver<usize>
where
    L: Send + 'static,
    S: Read + 'static,
{
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let Ok(mut s) = accept(&listener) else {
            return;
        };
        let mut got = Vec::new();
        if s.read_to_end(&mut got).is_ok() {
            let _ = tx.send(got.len());
        }
    });
    rx
}

#[test]
fn tcp_open_port_is_0_closed_is_1_as_nc_z_says() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let seen = accept_one(listener, |l| l.accept().map(|(s, _)| s));
    let out = run(connect(&["-z", &format!("tcp://127.0.0.1:{port}")]), WAIT);
    assert_open(&out);
    // It connected, sent nothing and closed.
    assert_eq!(seen.recv_timeout(WAIT), Ok(0));

    let closed = closed_port();
    let out = run(connect(&["-z", &format!("tcp://127.0.0.1:{closed}")]), WAIT);
    assert_closed(&out, "refused");

    // OpenBSD nc agrees on both, against a server that stays up.
    let s = Server::serve("echo", &["tcp://127.0.0.1:0"], &[]);
    for port in [s.addr(0).port(), closed] {
        let mut nc = nc();
        nc.args(["-z", "127.0.0.1", &port.to_string()]);
        let theirs = run(nc, WAIT).code();
        let ours = run(connect(&["-z", &format!("tcp://127.0.0.1:{port}")]), WAIT).code();
        assert_eq!(ours, theirs, "port {port}");
    }
}

#[test]
fn unix_listening_socket_is_0_missing_one_is_1() {
    let dir = tempdir();
    let path = dir.path().join("z.sock");
    let seen = accept_one(UnixListener::bind(&path).expect("bind"), |l| {
        l.accept().map(|(s, _)| s)
    });
    let out = run(connect(&["-z", &unix_url(dir.path(), "z.sock")]), WAIT);
    assert_open(&out);
    assert_eq!(seen.recv_timeout(WAIT), Ok(0));

    let out = run(connect(&["-z", &unix_url(dir.path(), "none.sock")]), WAIT);
    assert_closed(&out, "no such socket file");
}

#[test]
fn tls_needs_the_handshake_to_succeed() {
    let dir = tempdir();
    let cert = make_cert(dir.path());
    let tls = tls_args(&cert);
    let mut args = vec![
        "tcp://127.0.0.1:0",
        "tls://127.0.0.1:0",
        "wss://127.0.0.1:0/echo",
    ];
    args.extend(tls.iter().map(String::as_str));
    let s = Server::serve("echo", &args[..3], &args[3..]);
    let ca = cert.cert.display().to_string();
    for url in [s.url(1), s.url(2)] {
        assert_open(&run(connect(&["-z", url, "--ca", &ca]), WAIT));
        // Without the CA the certificate cannot be verified: the TCP
        // connection alone is not enough.
        assert_closed(&run(connect(&["-z", url]), WAIT), "TLS handshake failed");
    }
    // A plain TCP server is not a TLS server.
    let plain = format!("tls://{}", s.url(0).trim_start_matches("tcp://"));
    let out = run(
        connect(&["-z", &plain, "--ca", &ca, "--timeout", "1s"]),
        WAIT,
    );
    assert_eq!(out.code(), Some(1), "{}", out.stderr);
}

#[test]
fn websocket_completes_the_handshake_then_closes_with_1000() {
    let mut srv = WsPeer::echo();
    let out = run(connect(&["-z", &srv.url("/up")]), WAIT);
    assert_open(&out);
    assert_eq!(srv.next()["request"], "/up");
    assert_eq!(srv.next(), json!({"close": 1000}));

    // Listening, but no WebSocket service there.
    let s = Server::serve("echo", &["ws://127.0.0.1:0/echo"], &[]);
    let other = s.url(0).replace("/echo", "/nothing");
    assert_closed(&run(connect(&["-z", &other]), WAIT), "404");
    let out = run(
        connect(&["-z", &format!("ws://127.0.0.1:{}/", closed_port())]),
        WAIT,
    );
    assert_closed(&out, "refused");
}

#[test]
fn udp_reply_is_open_port_unreachable_is_closed() {
    let s = Server::serve("echo", &["udp://127.0.0.1:0"], &[]);
    assert_open(&run(connect(&["-z", s.url(0)]), WAIT));

    let url = format!("udp://127.0.0.1:{}", closed_udp_port());
    let out = run(connect(&["-z", &url]), WAIT);
    assert_closed(&out, "port unreachable");
}

#[test]
fn udp_silence_is_open_or_filtered_said_on_stderr_after_wait() {
    let server = UdpSocket::bind("127.0.0.1:0").expect("bind");
    server.set_read_timeout(Some(WAIT)).expect("timeout");
    let url = format!("udp://{}", server.local_addr().expect("addr"));
    let out = run(connect(&["-z", &url, "--wait", "400ms"]), WAIT);
    // The probe is an empty line.
    let mut buf = [0u8; 64];
    let n = server.recv(&mut buf).expect("the probe");
    assert_eq!(&buf[..n], b"\n");
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert!(out.stdout.is_empty());
    assert_one_line(&out.stderr, &["no answer within 400ms", "cannot tell"]);
    assert!(
        out.elapsed >= Duration::from_millis(400),
        "{:?}",
        out.elapsed
    );
}

#[test]
fn w_bounds_the_check_like_nc_z_w() {
    let backlog = full_backlog();
    let url = format!("tcp://{}", backlog.addr);
    let out = run(connect(&["-z", "-w", "300ms", &url]), WAIT);
    assert_closed(&out, "timed out after 300ms");
    assert!(out.elapsed < Duration::from_secs(3), "{:?}", out.elapsed);
}

#[test]
fn z_with_session_flags_is_a_usage_error() {
    for flag in ["--quit-after=1s", "--binary", "--strip-newline"] {
        let out = run(connect(&["-z", flag, "tcp://127.0.0.1:1"]), WAIT);
        assert_eq!(out.code(), Some(2), "{flag}: {}", out.stderr);
    }
}
