//! `daytime` (docs/behaviour.md, "Services"): greeting on connect, one reply
//! per request, formats, `--utc`, `--once`, UDP, STOP.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// Asserts `t` is an RFC 3339 time within a few seconds of now; returns it.
fn assert_rfc3339(t: &str) -> jiff::Timestamp {
    let ts: jiff::Timestamp = t
        .parse()
        .unwrap_or_else(|e| panic!("{t:?} is not RFC 3339: {e}"));
    assert!(
        (ts.as_second() - now_secs()).abs() < 5,
        "{t} is not the current time"
    );
    // Seconds precision, numeric offset: 2026-11-25T15:10:03+00:00
    assert_eq!(t.len(), 25, "{t:?} is not YYYY-MM-DDTHH:MM:SS+HH:MM");
    ts
}

#[test]
fn tcp_greets_on_connect_and_answers_every_request() {
    let server = Server::serve("daytime", &["tcp://127.0.0.1:0"], &[]);
    let mut c = Conn::tcp(server.addr(0));
    // The greeting comes without any request.
    assert_rfc3339(&c.read_line());
    for request in ["", "what time is it?", "   "] {
        assert_rfc3339(&c.ask(request));
    }
    c.expect_silence(Duration::from_millis(200));
}

#[test]
fn unix_greets_on_connect_and_answers_every_request() {
    let dir = tempdir();
    let server = Server::serve("daytime", &[&unix_url(dir.path(), "d.sock")], &[]);
    let mut c = Conn::unix(&server.path(0));
    assert_rfc3339(&c.read_line());
    assert_rfc3339(&c.ask("again"));
}

#[test]
fn one_reply_per_request_even_when_pipelined() {
    let server = Server::serve("daytime", &["tcp://127.0.0.1:0"], &["--format", "unix"]);
    let mut c = Conn::tcp(server.addr(0));
    c.read_line();
    c.send(b"a\nb\r\nc\n\n");
    for _ in 0..4 {
        let t: i64 = c.read_line().parse().expect("unix seconds");
        assert!((t - now_secs()).abs() < 5);
    }
    c.expect_silence(Duration::from_millis(200));
}

#[test]
fn every_format_parses() {
    let server = Server::serve("daytime", &["tcp://127.0.0.1:0"], &["--format", "rfc2822"]);
    let t = Conn::tcp(server.addr(0)).read_line();
    let z = jiff::fmt::rfc2822::parse(&t).unwrap_or_else(|e| panic!("{t:?} is not RFC 2822: {e}"));
    assert!((z.timestamp().as_second() - now_secs()).abs() < 5, "{t}");

    let server = Server::serve("daytime", &["tcp://127.0.0.1:0"], &["--format", "rfc3339"]);
    assert_rfc3339(&Conn::tcp(server.addr(0)).read_line());

    let server = Server::serve("daytime", &["tcp://127.0.0.1:0"], &["--format", "unix"]);
    let t = Conn::tcp(server.addr(0)).read_line();
    let s: i64 = t
        .parse()
        .unwrap_or_else(|e| panic!("{t:?} is not seconds: {e}"));
    assert!((s - now_secs()).abs() < 5);

    let server = Server::serve("daytime", &["tcp://127.0.0.1:0"], &["--format", "unix-ms"]);
    let t = Conn::tcp(server.addr(0)).read_line();
    let ms: i64 = t
        .parse()
        .unwrap_or_else(|e| panic!("{t:?} is not milliseconds: {e}"));
    assert!((ms / 1000 - now_secs()).abs() < 5, "{t}");
    assert!(ms > 1_000_000_000_000, "{t} is in milliseconds");
}

#[test]
fn unknown_format_is_a_usage_error() {
    let out = run_duplex(
        &["serve", "daytime", "tcp://127.0.0.1:0", "--format", "iso"],
        WAIT,
    );
    assert_eq!(out.code(), Some(2), "{out:?}");
    assert!(
        out.stderr.contains("rfc3339"),
        "lists the formats: {}",
        out.stderr
    );
}

/// A daytime server whose local time zone is India (+05:30, no DST).
fn in_kolkata(extra: &[&str]) -> Server {
    let mut cmd = duplex();
    cmd.env("TZ", "Asia/Kolkata")
        .args(["serve", "daytime", "tcp://127.0.0.1:0"])
        .args(extra);
    Server::try_start_cmd(cmd, 1).expect("daytime server")
}

#[test]
fn local_time_by_default_and_utc_with_the_flag() {
    let local = in_kolkata(&[]);
    let t = Conn::tcp(local.addr(0)).read_line();
    assert!(t.ends_with("+05:30"), "local time in Asia/Kolkata: {t}");
    assert_rfc3339(&t);

    let utc = in_kolkata(&["--utc"]);
    let t = Conn::tcp(utc.addr(0)).read_line();
    assert!(t.ends_with("+00:00"), "--utc: {t}");
    assert_rfc3339(&t);

    let utc = in_kolkata(&["--utc", "--format", "rfc2822"]);
    let t = Conn::tcp(utc.addr(0)).read_line();
    assert!(t.ends_with(" +0000"), "--utc in RFC 2822: {t}");
}

#[test]
fn once_sends_the_greeting_and_closes() {
    let dir = tempdir();
    let server = Server::serve(
        "daytime",
        &["tcp://127.0.0.1:0", &unix_url(dir.path(), "o.sock")],
        &["--once"],
    );
    for url in [server.url(0).to_string(), server.url(1).to_string()] {
        let mut c = Conn::to(&url);
        assert_rfc3339(&c.read_line());
        c.expect_eof(WAIT);
    }
}

#[test]
fn udp_answers_any_datagram_with_the_time() {
    let server = Server::serve("daytime", &["udp://127.0.0.1:0"], &["--utc"]);
    let u = Udp::to(server.addr(0));
    for d in ["", "hello", "STOP", "x\n"] {
        let reply = u.ask(d);
        assert!(
            reply.ends_with('\n'),
            "UDP replies end with a line break: {reply:?}"
        );
        assert_rfc3339(reply.trim_end_matches('\n'));
    }
    // Nothing is sent without a request (no greeting over UDP).
    assert_eq!(u.try_recv(Duration::from_millis(200)), None);
}

#[test]
fn stop_ends_the_session() {
    let dir = tempdir();
    let server = Server::serve(
        "daytime",
        &["tcp://127.0.0.1:0", &unix_url(dir.path(), "s.sock")],
        &[],
    );
    for (url, stop) in [
        (server.url(0), "STOP"),
        (server.url(1), "STOP "),
        (server.url(0), "  STOP\r"),
    ] {
        let mut c = Conn::to(url);
        c.read_line();
        c.send_line(stop);
        c.expect_eof(WAIT);
    }
    // Only exactly STOP stops (after trimming).
    let mut c = Conn::tcp(server.addr(0));
    c.read_line();
    for not_stop in ["stop", "STOPP", "STOP now"] {
        assert_rfc3339(&c.ask(not_stop));
    }
}
