//! `duplex connect` against servers that never close: `--quit-after` (nc's
//! `-q`) quits that long after stdin EOF with exit 0, `-w` gives up after
//! that long without data either way with exit 1, on every transport; `-w`
//! bounds connecting unless `--timeout` is given; UDP's `--wait` keeps its
//! meaning.

mod common;
mod connect_peers;
mod tlsutil;

use std::net::UdpSocket;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use connect_peers::*;
use serde_json::json;
use tlsutil::make_cert;

/// A socat server running `script` for one client over tcp, unix and tls,
/// each with the `duplex connect` arguments that reach it.
fn socat_streams(dir: &Path, script: &str) -> Vec<(Vec<String>, Interactive)> {
    let cert = make_cert(dir);
    let (tcp, port) = socat_server("TCP-LISTEN:0,bind=127.0.0.1", script);
    let mut servers = vec![(vec![format!("tcp://127.0.0.1:{port}")], tcp)];
    let path = dir.join("s.sock");
    let (unix, _) = socat_server(&format!("UNIX-LISTEN:{}", path.display()), script);
    servers.push((vec![format!("unix://{}", path.display())], unix));
    let listen = format!(
        "OPENSSL-LISTEN:0,bind=127.0.0.1,cert={},key={},verify=0",
        cert.cert.display(),
        cert.key.display()
    );
    let (tls, port) = socat_server(&listen, script);
    let url = format!("tls://127.0.0.1:{port}");
    let ca = cert.cert.display().to_string();
    servers.push((vec![url, "--ca".into(), ca], tls));
    servers
}

fn with(args: &[String], extra: &[&str]) -> Vec<String> {
    let mut v = args.to_vec();
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn quit_after_ends_a_stream_session_the_server_keeps_open() {
    let dir = tempdir();
    // Echoes until the client's EOF, then holds the connection for 10 s.
    for (args, _srv) in socat_streams(dir.path(), "cat; sleep 10") {
        let args = with(&args, &["--quit-after", "500ms"]);
        let out = run_with_input(connect(&strs(&args)), b"hello\n", WAIT);
        assert_eq!(out.code(), Some(0), "{args:?}: {}", out.stderr);
        assert_eq!(out.stdout_str(), "hello\n", "{args:?}");
        assert!(out.stderr.is_empty(), "{}", out.stderr);
        assert!(
            out.elapsed >= Duration::from_millis(500) && out.elapsed < Duration::from_secs(4),
            "{args:?}: {:?}",
            out.elapsed
        );
    }
}

#[test]
fn quit_after_0_quits_at_stdin_eof() {
    let (_srv, port) = socat_server("TCP-LISTEN:0,bind=127.0.0.1", "sleep 10");
    let url = format!("tcp://127.0.0.1:{port}");
    let out = run_with_input(connect(&[&url, "--quit-after", "0"]), b"bye\n", WAIT);
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert!(out.elapsed < Duration::from_secs(3), "{:?}", out.elapsed);
}

#[test]
fn nc_style_dash_q_with_a_duration_is_quit_after() {
    let (_srv, port) = socat_server("TCP-LISTEN:0,bind=127.0.0.1", "sleep 10");
    let url = format!("tcp://127.0.0.1:{port}");
    let out = run_with_input(connect(&["-q", "0", &url]), b"bye\n", WAIT);
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert!(out.elapsed < Duration::from_secs(3), "{:?}", out.elapsed);
}

/// Runs `duplex connect ARGS -w 500ms` with stdin open and nothing sent;
/// asserts it gives up with exit 1 and one line, after 500 ms.
fn assert_gives_up_when_idle(args: &[String]) {
    let args = with(args, &["-w", "500ms"]);
    let start = Instant::now();
    let mut c = Interactive::spawn(connect(&strs(&args)));
    let status = c.wait(WAIT).expect("connect gives up");
    let took = start.elapsed();
    assert_eq!(status.code(), Some(1), "{args:?}: {}", c.stderr_to_end());
    assert_one_line(
        &c.stderr_to_end(),
        &["nothing sent or received for 500ms (-w)"],
    );
    assert!(took >= Duration::from_millis(500), "{args:?}: {took:?}");
}

#[test]
fn idle_timeout_gives_up_with_exit_1_on_every_transport() {
    let dir = tempdir();
    for (args, _srv) in socat_streams(dir.path(), "sleep 10") {
        assert_gives_up_when_idle(&args);
    }

    let silent = UdpSocket::bind("127.0.0.1:0").expect("bind");
    assert_gives_up_when_idle(&[format!("udp://{}", silent.local_addr().expect("addr"))]);

    let mut srv = WsPeer::with(&["silent"]);
    assert_gives_up_when_idle(&[srv.url("/")]);
    // The server hears why.
    assert_eq!(
        srv.close_event(),
        json!({"close": 1000, "reason": "idle timeout"})
    );
}

#[test]
fn idle_timeout_counts_data_sent_and_received() {
    // Sending keeps the session alive though the server never answers.
    let (_sink, port) = socat_server("TCP-LISTEN:0,bind=127.0.0.1", "cat >/dev/null");
    let mut c = Interactive::spawn(connect(&[
        &format!("tcp://127.0.0.1:{port}"),
        "-w",
        "700ms",
    ]));
    for _ in 0..6 {
        c.write(b"still here\n");
        thread::sleep(Duration::from_millis(250));
    }
    assert!(
        c.child.try_wait().expect("try_wait").is_none(),
        "gave up while sending: {}",
        c.stderr()
    );
    assert_eq!(
        c.wait(WAIT).and_then(|s| s.code()),
        Some(1),
        "{}",
        c.stderr()
    );

    // Receiving does too though the client never sends.
    let script = "for i in 1 2 3 4 5 6; do echo $i; sleep 0.25; done; sleep 10";
    let (_push, port) = socat_server("TCP-LISTEN:0,bind=127.0.0.1", script);
    let mut c = Interactive::spawn(connect(&[
        &format!("tcp://127.0.0.1:{port}"),
        "-w",
        "700ms",
    ]));
    for i in 1..=6 {
        assert_eq!(c.read_line(WAIT), i.to_string());
    }
    assert_eq!(
        c.wait(WAIT).and_then(|s| s.code()),
        Some(1),
        "{}",
        c.stderr()
    );
}

#[test]
fn idle_timeout_does_not_cut_the_udp_wait_after_stdin_eof() {
    let (url, responder) = late_udp_responder(Duration::from_millis(700));
    let out = run_with_input(
        connect(&[&url, "-w", "300ms", "--wait", "2s"]),
        b"hi\n",
        WAIT,
    );
    responder.join().expect("responder");
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert_eq!(out.stdout_str(), "late\n");
}

#[test]
fn quit_after_ends_an_endless_stream_of_datagrams() {
    let server = UdpSocket::bind("127.0.0.1:0").expect("bind");
    server.set_read_timeout(Some(WAIT)).expect("timeout");
    let url = format!("udp://{}", server.local_addr().expect("addr"));
    thread::spawn(move || {
        let mut buf = [0u8; 64];
        let Ok((_, peer)) = server.recv_from(&mut buf) else {
            return;
        };
        // Never quiet for --wait: a tick every 100 ms, for 10 s at most.
        for i in 0..100 {
            let _ = server.send_to(format!("tick {i}").as_bytes(), peer);
            thread::sleep(Duration::from_millis(100));
        }
    });
    let out = run_with_input(connect(&[&url, "--quit-after", "800ms"]), b"go\n", WAIT);
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert!(out.elapsed < Duration::from_secs(4), "{:?}", out.elapsed);
    let ticks = out
        .stdout_str()
        .lines()
        .filter(|l| l.starts_with("tick "))
        .count();
    assert!(ticks >= 3, "{}", out.stdout_str());
}

#[test]
fn websocket_closes_at_stdin_eof_unless_quit_after_keeps_it_open() {
    // By default the close starts at stdin EOF.
    let mut srv = WsPeer::with(&["push", "300"]);
    let out = run_with_input(connect(&[&srv.url("/")]), b"", WAIT);
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert!(
        out.stdout_str().lines().count() <= 1,
        "{}",
        out.stdout_str()
    );
    assert_eq!(srv.close_event(), json!({"close": 1000, "reason": ""}));

    // --quit-after keeps receiving, then closes with 1000.
    let mut srv = WsPeer::with(&["push", "200"]);
    let out = run_with_input(connect(&[&srv.url("/"), "--quit-after", "1s"]), b"", WAIT);
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    let text = out.stdout_str();
    assert!(text.lines().count() >= 3, "{text}");
    assert!(text.starts_with("tick 1\ntick 2\n"), "{text}");
    assert_eq!(out.stderr, "duplex: closed: 1000 (normal)\n");
    assert_eq!(srv.close_event(), json!({"close": 1000, "reason": ""}));
}

#[test]
fn w_bounds_connecting_unless_timeout_is_given() {
    let backlog = full_backlog();
    let url = format!("tcp://{}", backlog.addr);
    for args in [
        &["-w", "300ms"][..],
        &["-w", "30s", "--timeout", "300ms"][..],
    ] {
        let mut all = vec![url.as_str()];
        all.extend_from_slice(args);
        let out = run(connect(&all), WAIT);
        assert_eq!(out.code(), Some(1), "{args:?}: {}", out.stderr);
        assert!(
            out.stderr.contains("timed out after 300ms"),
            "{}",
            out.stderr
        );
        assert!(
            out.elapsed < Duration::from_secs(3),
            "{args:?}: {:?}",
            out.elapsed
        );
    }
}

#[test]
fn timer_flags_take_durations() {
    for args in [&["--quit-after", "soon"][..], &["-w", "0"], &["-w", "-1"]] {
        let mut all = vec!["tcp://127.0.0.1:1"];
        all.extend_from_slice(args);
        let out = run(connect(&all), WAIT);
        assert_eq!(out.code(), Some(2), "{args:?}: {}", out.stderr);
    }
}
