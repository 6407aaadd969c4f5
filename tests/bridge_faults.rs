//! A bridge when things go wrong (docs/behaviour.md, "Relaying"): TO
//! refusing, timing out, resetting mid-stream or closing first, the client
//! resetting, a TLS upstream whose certificate does not verify. Each gives
//! one clear log line and a clean end for the other side, and the bridge's
//! active sessions come back to 0 in the metrics: nothing hangs, no task
//! is left behind. And backpressure: a non-reading upstream holds the
//! client back while the bridge's memory stays flat.

mod bridgeutil;
mod common;
mod connect_peers;
mod tlsutil;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use bridgeutil::*;
use common::*;
use connect_peers::full_backlog;
use tlsutil::{make_cert, tls_args};

const METRICS: [&str; 2] = ["--metrics", "tcp://127.0.0.1:0"];

fn with_metrics(extra: &[&'static str]) -> Vec<&'static str> {
    let mut v = METRICS.to_vec();
    v.extend_from_slice(extra);
    v
}

/// A client of `b` that is closed without a word: EOF, nothing else, soon.
fn assert_closed_at_once(b: &Server) {
    let start = Instant::now();
    let mut c = Conn::to(bridge_url(b));
    c.expect_eof(WAIT);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

fn failures(b: &Server, kind: &str) -> Option<u64> {
    let text = metrics(b.url(0));
    sample(
        &text,
        &format!("duplex_bridge_upstream_failures_total{{kind=\"{kind}\"}}"),
    )
}

/// Closes `s` with a reset (SO_LINGER 0) rather than a FIN.
fn reset(s: TcpStream) {
    let s = socket2::Socket::from(s);
    s.set_linger(Some(Duration::ZERO)).expect("SO_LINGER 0");
    drop(s);
}

#[test]
fn upstream_refusing_closes_the_client_with_one_log_line() {
    let url = format!("tcp://127.0.0.1:{}", closed_port());
    let b = bridge("tcp://127.0.0.1:0", &url, &with_metrics(&[]));
    assert_closed_at_once(&b);
    let lines = log_lines(&b, &["session closed", "upstream unreachable"], 1);
    assert!(lines[0].contains("connection refused"), "{lines:?}");
    assert!(lines[0].contains("WARN"), "{lines:?}");
    sessions_end(b.url(0), "tcp");
    assert_eq!(failures(&b, "refused"), Some(1));
}

#[test]
fn upstream_timing_out_closes_the_client_after_connect_timeout() {
    let hang = full_backlog();
    let url = format!("tcp://{}", hang.addr);
    let b = bridge(
        "tcp://127.0.0.1:0",
        &url,
        &with_metrics(&["--connect-timeout", "500ms"]),
    );
    assert_closed_at_once(&b);
    let lines = log_lines(&b, &["session closed", "upstream unreachable"], 1);
    assert!(lines[0].contains("timed out after 500ms"), "{lines:?}");
    sessions_end(b.url(0), "tcp");
    assert_eq!(failures(&b, "timeout"), Some(1));
}

#[test]
fn upstream_with_a_certificate_that_does_not_verify_is_a_tls_failure() {
    let dir = tempdir();
    let cert = make_cert(dir.path());
    let tls = tls_args(&cert);
    let extra: Vec<&str> = tls.iter().map(String::as_str).collect();
    let upstream = Server::serve("echo", &["tls://127.0.0.1:0"], &extra);
    // No --ca: the self-signed certificate is not trusted.
    let b = bridge("tcp://127.0.0.1:0", upstream.url(0), &with_metrics(&[]));
    assert_closed_at_once(&b);
    let lines = log_lines(&b, &["session closed", "upstream unreachable"], 1);
    assert!(lines[0].contains("TLS handshake failed"), "{lines:?}");
    assert!(lines[0].contains("certificate"), "{lines:?}");
    sessions_end(b.url(0), "tcp");
    assert_eq!(failures(&b, "tls"), Some(1));
}

#[test]
fn upstream_resetting_mid_stream_ends_the_client_cleanly() {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("tcp://{}", l.local_addr().expect("addr"));
    let b = bridge("tcp://127.0.0.1:0", &url, &with_metrics(&[]));
    let mut client = Conn::to(bridge_url(&b));
    let (mut up, _) = l.accept().expect("accept");
    up.write_all(b"partial answer\n").expect("write");
    assert_eq!(client.read_line(), "partial answer");
    reset(up);
    client.expect_eof(WAIT);
    let lines = log_lines(&b, &["session closed", "upstream error"], 1);
    assert!(lines[0].to_lowercase().contains("reset"), "{lines:?}");
    sessions_end(b.url(0), "tcp");
}

#[test]
fn upstream_closing_first_passes_its_last_words_and_the_end() {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("tcp://{}", l.local_addr().expect("addr"));
    let b = bridge("tcp://127.0.0.1:0", &url, &with_metrics(&[]));
    let mut client = Conn::to(bridge_url(&b));
    let (mut up, _) = l.accept().expect("accept");
    up.write_all(b"bye\n").expect("write");
    drop(up);
    assert_eq!(client.read_line(), "bye");
    client.expect_eof(WAIT);
    client.shutdown_write();
    let lines = log_lines(&b, &["session closed"], 1);
    assert!(lines[0].contains("upstream closed first"), "{lines:?}");
    sessions_end(b.url(0), "tcp");
}

#[test]
fn client_resetting_ends_the_upstream_cleanly() {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("tcp://{}", l.local_addr().expect("addr"));
    let b = bridge("tcp://127.0.0.1:0", &url, &with_metrics(&[]));
    let mut client = TcpStream::connect(socket_addr(bridge_url(&b))).expect("connect");
    let (mut up, _) = l.accept().expect("accept");
    up.set_read_timeout(Some(WAIT)).expect("timeout");
    client.write_all(b"hello").expect("write");
    let mut buf = [0u8; 5];
    up.read_exact(&mut buf).expect("relayed");
    reset(client);
    // The upstream sees an orderly end (FIN), not a hang.
    let mut rest = Vec::new();
    assert_eq!(up.read_to_end(&mut rest).expect("EOF"), 0);
    let lines = log_lines(&b, &["session closed", "client error"], 1);
    assert!(lines[0].to_lowercase().contains("reset"), "{lines:?}");
    sessions_end(b.url(0), "tcp");
}

#[test]
fn many_faulty_sessions_leave_no_session_or_task_behind() {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("tcp://{}", l.local_addr().expect("addr"));
    let mut b = bridge(
        "tcp://127.0.0.1:0",
        &url,
        &with_metrics(&["--shutdown-timeout", "5s"]),
    );
    let upstream = std::thread::spawn(move || {
        // Every other upstream connection is reset at once, the others
        // closed after a word.
        for i in 0..20 {
            let (mut s, _) = l.accept().expect("accept");
            if i % 2 == 0 {
                reset(s);
            } else {
                let _ = s.write_all(b"x");
            }
        }
    });
    for i in 0..20 {
        let mut c = TcpStream::connect(socket_addr(bridge_url(&b))).expect("connect");
        c.set_read_timeout(Some(WAIT)).expect("timeout");
        if i % 3 == 0 {
            reset(c);
        } else {
            let mut rest = Vec::new();
            let _ = c.read_to_end(&mut rest);
        }
    }
    upstream.join().expect("upstream thread");
    sessions_end(b.url(0), "tcp");
    // Nothing is left for shutdown to wait for.
    let start = Instant::now();
    b.signal(libc::SIGTERM);
    assert_eq!(b.wait_exit(WAIT).and_then(|s| s.code()), Some(0));
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    assert!(b.stderr().contains("shutdown complete"), "{}", b.stderr());
}

#[test]
fn a_non_reading_upstream_holds_the_client_back_and_memory_stays_flat() {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("tcp://{}", l.local_addr().expect("addr"));
    let b = bridge("tcp://127.0.0.1:0", &url, &[]);
    let client = TcpStream::connect(socket_addr(bridge_url(&b))).expect("connect");
    // The upstream accepts and never reads.
    let (_up, _) = l.accept().expect("accept");
    let before = b.rss_kib();
    client
        .set_write_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    let chunk = vec![7u8; 64 * 1024];
    let mut sent = 0usize;
    let mut writer = &client;
    // Send until the client is held back (a write times out), at most
    // 256 MiB.
    while sent < 256 << 20 {
        match writer.write(&chunk) {
            Ok(n) => sent += n,
            Err(_) => break,
        }
    }
    assert!(
        sent < 64 << 20,
        "the client sent {sent} bytes without being held back"
    );
    // Keep pushing for a while: nothing more gets through, nothing grows.
    let mut peak = b.rss_kib();
    for _ in 0..10 {
        let _ = writer.write(&chunk);
        peak = peak.max(b.rss_kib());
    }
    assert!(
        peak <= before + 1024,
        "the bridge's RSS grew from {before} KiB to {peak} KiB after {sent} bytes"
    );
}
