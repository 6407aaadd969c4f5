//! Interoperability with Python's `websockets` library: as a client of every
//! duplex WebSocket service (tests/py/ws_client.py), and as a server for
//! `duplex connect ws://` (tests/py/ws_echo_server.py). The library comes
//! from the project's `.venv`, which `scripts/test.sh` creates; a missing
//! venv fails the tests.

mod common;
mod connect_peers;

use std::process::Command;

use common::*;
use connect_peers::{WsPeer, connect, echo_lines, py_ws_client};
use serde_json::{Value, json};

/// Runs the Python client against `url` with `steps`; returns what it
/// reported after the handshake, one JSON value per line.
fn py_client(url: &str, steps: Value) -> Vec<Value> {
    py_ws_client(url, &[], &[], &steps).1
}

fn text(s: &str) -> Value {
    json!({"type": "text", "data": s})
}

fn ws_url(service: &str, extra: &[&str]) -> Server {
    Server::serve(service, &["ws://127.0.0.1:0/svc"], extra)
}

fn is_integer_text(v: &Value, range: std::ops::RangeInclusive<i64>) -> bool {
    v["type"] == "text"
        && v["data"]
            .as_str()
            .and_then(|d| d.parse::<i64>().ok())
            .is_some_and(|n| range.contains(&n))
}

// ---------------------------------------------------------------------------
// websockets as a client of duplex

#[test]
fn python_client_echo_keeps_type_and_payload() {
    let s = ws_url("echo", &[]);
    let got = py_client(
        s.url(0),
        json!([
            {"send": "hello"}, {"recv": 1},
            {"send_hex": "00ff10fe"}, {"recv": 1},
            {"send": "ünïcødé ✓"}, {"recv": 1},
            {"send": "STOP"}, {"recv": 1},
            {"close": true}
        ]),
    );
    assert_eq!(
        got,
        vec![
            text("hello"),
            json!({"type": "binary", "data": "00ff10fe"}),
            text("ünïcødé ✓"),
            text("STOP"),
            json!({"close": 1000, "reason": ""}),
        ]
    );
}

#[test]
fn python_client_daytime_greeting_reply_and_stop() {
    let s = ws_url("daytime", &["--format", "unix"]);
    let got = py_client(
        s.url(0),
        json!([{"recv": 1}, {"send": "now"}, {"recv": 1}, {"send": "STOP"}, {"wait_close": true}]),
    );
    assert_eq!(got.len(), 3, "{got:?}");
    for v in &got[..2] {
        assert!(
            is_integer_text(v, 1_700_000_000..=4_000_000_000),
            "not a unix time: {v}"
        );
    }
    assert_eq!(got[2], json!({"close": 1000, "reason": "STOP"}));
}

#[test]
fn python_client_random_counts_ranges_and_errors() {
    let s = ws_url("random", &[]);
    let got = py_client(
        s.url(0),
        json!([
            {"send": "4 10 12"}, {"recv": 4},
            {"send": "9 3"}, {"recv": 1},
            {"send": ""}, {"recv": 1},
            {"send": "STOP"}, {"wait_close": true}
        ]),
    );
    assert_eq!(got.len(), 7, "{got:?}");
    for v in &got[..4] {
        assert!(is_integer_text(v, 10..=12), "{v}");
    }
    assert_eq!(got[4], text("ERR LO 9 is greater than HI 3"));
    assert!(is_integer_text(&got[5], 1..=1000), "{}", got[5]);
    assert_eq!(got[6], json!({"close": 1000, "reason": "STOP"}));
}

#[test]
fn python_client_counter_counts_sessions() {
    let s = ws_url("counter", &[]);
    let steps = json!([{"send": ""}, {"recv": 1}, {"close": true}]);
    assert_eq!(py_client(s.url(0), steps.clone())[0], text("1"));
    assert_eq!(py_client(s.url(0), steps)[0], text("2"));
}

#[test]
fn python_client_gets_close_1009_over_max_message() {
    let s = ws_url("echo", &["--max-message", "1000"]);
    let got = py_client(
        s.url(0),
        json!([{"send_hex": "ab".repeat(1001)}, {"wait_close": true}]),
    );
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["close"], 1009);
}

// ---------------------------------------------------------------------------
// websockets as a server for duplex connect

/// `duplex connect URL EXTRA…`.
fn connect_url(url: &str, extra: &[&str]) -> Command {
    let mut args = vec![url];
    args.extend_from_slice(extra);
    connect(&args)
}

/// `duplex connect URL EXTRA…` sends `lines`, prints each echo, and exits 0
/// once stdin ends.
fn connect_and_echo(url: &str, extra: &[&str], lines: &[&str]) {
    echo_lines(&mut Interactive::spawn(connect_url(url, extra)), lines);
}

#[test]
fn connect_to_python_server_sends_text_lines_and_prints_echoes() {
    let mut srv = WsPeer::echo();
    connect_and_echo(&srv.url("/"), &[], &["first", "second"]);
    assert_eq!(srv.next()["request"], "/");
    assert_eq!(srv.next(), text("first"));
    assert_eq!(srv.next(), text("second"));
    assert_eq!(srv.next(), json!({"close": 1000}));
}

#[test]
fn connect_binary_to_python_server_sends_binary_messages() {
    let mut srv = WsPeer::echo();
    connect_and_echo(&srv.url("/bin"), &["--binary"], &["abc"]);
    assert_eq!(srv.next()["request"], "/bin");
    assert_eq!(srv.next(), json!({"type": "binary", "data": "616263"}));
    assert_eq!(srv.next(), json!({"close": 1000}));
}

#[test]
fn connect_headers_and_query_string_reach_python_server() {
    let mut srv = WsPeer::echo();
    let out = run_with_input(
        connect_url(
            &srv.url("/feed?room=7&x=y"),
            &[
                "-H",
                "Authorization: Bearer t0ken",
                "-H",
                "X-Trace: 42",
                "--protocol",
                "v1.duplex",
            ],
        ),
        b"",
        WAIT,
    );
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    let req = srv.next();
    assert_eq!(req["request"], "/feed?room=7&x=y");
    assert_eq!(req["headers"]["authorization"], "Bearer t0ken");
    assert_eq!(req["headers"]["x-trace"], "42");
    assert_eq!(req["headers"]["sec-websocket-protocol"], "v1.duplex");
}
