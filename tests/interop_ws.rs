//! Interoperability with Python's `websockets` library: as a client of every
//! duplex WebSocket service (tests/py/ws_client.py), and as a server for
//! `duplex connect ws://` (tests/py/ws_echo_server.py). The library comes
//! from the project's `.venv`, which `scripts/test.sh` creates; a missing
//! venv fails the tests.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::{Value, json};

const LONG: Duration = Duration::from_secs(60);

/// Runs the Python client against `url` with `steps`; returns what it
/// reported, one JSON value per line.
fn py_client(url: &str, steps: Value) -> Vec<Value> {
    let mut cmd = py_script("ws_client.py");
    cmd.arg(url);
    let out = run_with_input(cmd, steps.to_string().as_bytes(), LONG);
    assert_eq!(out.code(), Some(0), "ws_client.py failed: {}", out.stderr);
    out.stdout_str()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .skip(1) // the subprotocol line
        .collect()
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

/// The Python echo server, and the port it listens on.
fn py_server() -> (Interactive, u16) {
    let mut srv = Interactive::spawn(py_script("ws_echo_server.py"));
    let first: Value = serde_json::from_str(&srv.read_line(WAIT)).expect("JSON");
    let port = first["listening"].as_u64().expect("listening PORT") as u16;
    (srv, port)
}

fn next_event(srv: &mut Interactive) -> Value {
    serde_json::from_str(&srv.read_line(WAIT)).expect("a JSON line")
}

fn connect(url: &str, extra: &[&str]) -> Command {
    let mut cmd = duplex();
    cmd.arg("connect").arg(url).args(extra);
    cmd
}

/// `duplex connect URL EXTRA…` sends `lines`, prints each echo, and exits 0
/// once stdin ends. Stdin stays open until the echoes are printed: the
/// Python server answers a close frame at once, before echoing what is
/// still queued, as RFC 6455 allows.
fn connect_and_echo(url: &str, extra: &[&str], lines: &[&str]) {
    let mut c = Interactive::spawn(connect(url, extra));
    for l in lines {
        c.write(format!("{l}\n").as_bytes());
    }
    for l in lines {
        assert_eq!(&c.read_line(WAIT), l);
    }
    c.close_stdin();
    let status = c.wait(WAIT).expect("connect exits at stdin EOF");
    assert_eq!(status.code(), Some(0), "{}", c.stderr());
}

#[test]
fn connect_to_python_server_sends_text_lines_and_prints_echoes() {
    let (mut srv, port) = py_server();
    connect_and_echo(
        &format!("ws://127.0.0.1:{port}/"),
        &[],
        &["first", "second"],
    );
    assert_eq!(next_event(&mut srv)["request"], "/");
    assert_eq!(next_event(&mut srv), text("first"));
    assert_eq!(next_event(&mut srv), text("second"));
    assert_eq!(next_event(&mut srv), json!({"close": 1000}));
}

#[test]
fn connect_binary_to_python_server_sends_binary_messages() {
    let (mut srv, port) = py_server();
    connect_and_echo(
        &format!("ws://127.0.0.1:{port}/bin"),
        &["--binary"],
        &["abc"],
    );
    assert_eq!(next_event(&mut srv)["request"], "/bin");
    assert_eq!(
        next_event(&mut srv),
        json!({"type": "binary", "data": "616263"})
    );
    assert_eq!(next_event(&mut srv), json!({"close": 1000}));
}

#[test]
fn connect_headers_and_query_string_reach_python_server() {
    let (mut srv, port) = py_server();
    let out = run_with_input(
        connect(
            &format!("ws://127.0.0.1:{port}/feed?room=7&x=y"),
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
    let req = next_event(&mut srv);
    assert_eq!(req["request"], "/feed?room=7&x=y");
    assert_eq!(req["headers"]["authorization"], "Bearer t0ken");
    assert_eq!(req["headers"]["x-trace"], "42");
    assert_eq!(req["headers"]["sec-websocket-protocol"], "v1.duplex");
}
