//! permessage-deflate (RFC 7692) on real sockets: what `duplex serve`
//! answers to raw offers (read off the wire), Python's `websockets` as a
//! client of duplex and as a server for `duplex connect --compress` and
//! `duplex bench --compress`, with compression on and off on either side,
//! and compressed messages that would inflate past `--max-message` (zip
//! bombs) closed with 1009 on both sides, with the server's memory bounded.

mod common;
mod connect_peers;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use common::*;
use connect_peers::{WsPeer, connect, echo_lines, py_ws_client};
use serde_json::{Value, json};

const LONG: Duration = Duration::from_secs(60);

/// What duplex answers by default: no context takeover either way, so no
/// deflate state outlives a message.
const DEFAULT_ANSWER: &str =
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover";
/// What `duplex connect --compress` offers.
const CLIENT_OFFER: &str = "permessage-deflate; client_no_context_takeover; client_max_window_bits";

fn echo(extra: &[&str]) -> Server {
    Server::serve("echo", &["ws://127.0.0.1:0/echo"], extra)
}

/// Sends a handshake offering `offers` (one header line each) and returns
/// the status line and the `Sec-WebSocket-Extensions` answered, if any.
fn answer_to(s: &Server, offers: &[&str]) -> (String, Option<String>) {
    let authority = s.url(0)["ws://".len()..].split('/').next().unwrap_or("");
    let mut tcp = TcpStream::connect(authority).expect("connect");
    tcp.set_read_timeout(Some(WAIT)).expect("timeout");
    let mut req = String::from(
        "GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n",
    );
    for o in offers {
        req.push_str(&format!("Sec-WebSocket-Extensions: {o}\r\n"));
    }
    req.push_str("\r\n");
    tcp.write_all(req.as_bytes()).expect("send");
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tcp.read(&mut buf).expect("read the answer");
        assert!(n > 0, "closed before the end of the answer: {got:?}");
        got.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&got).into_owned();
    let status = text.lines().next().unwrap_or("").to_string();
    let ext = text.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("sec-websocket-extensions")
            .then(|| value.trim().to_string())
    });
    (status, ext)
}

#[test]
fn server_answers_offers_as_rfc_7692_says() {
    let s = echo(&[]);
    let cases: [(&[&str], Option<&str>); 8] = [
        (&["permessage-deflate"], Some(DEFAULT_ANSWER)),
        // What Chromium and Python websockets offer: client_max_window_bits
        // is not answered at 15.
        (
            &["permessage-deflate; client_max_window_bits"],
            Some(DEFAULT_ANSWER),
        ),
        // Window sizes asked for are honoured (never more than asked).
        (
            &["permessage-deflate; server_max_window_bits=10; client_max_window_bits=12"],
            Some(
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=12",
            ),
        ),
        // zlib cannot deflate with a 256-byte window: declined.
        (&["permessage-deflate; server_max_window_bits=8"], None),
        // An unknown parameter declines that offer; the next one is taken,
        // also from a second header line.
        (
            &[
                "permessage-deflate; mystery=1",
                "permessage-deflate; server_no_context_takeover",
            ],
            Some(DEFAULT_ANSWER),
        ),
        (
            &["x-webkit-deflate-frame, permessage-deflate; client_max_window_bits=9"],
            Some(
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits=9",
            ),
        ),
        (&["x-webkit-deflate-frame"], None),
        (&[], None),
    ];
    for (offers, expected) in cases {
        let (status, ext) = answer_to(&s, offers);
        assert!(status.contains(" 101 "), "{offers:?}: {status}");
        assert_eq!(ext.as_deref(), expected, "offers {offers:?}");
    }
}

#[test]
fn compression_flags_change_the_answer() {
    let off = echo(&["--compression", "off"]);
    assert_eq!(answer_to(&off, &["permessage-deflate"]).1, None);
    let context = echo(&["--compression-context"]);
    assert_eq!(
        answer_to(&context, &["permessage-deflate; client_max_window_bits"])
            .1
            .as_deref(),
        Some("permessage-deflate")
    );
    // A client that asks for no context takeover still gets it.
    assert_eq!(
        answer_to(
            &context,
            &["permessage-deflate; server_no_context_takeover"]
        )
        .1
        .as_deref(),
        Some("permessage-deflate; server_no_context_takeover")
    );
    let small = echo(&["--compression-context", "--compression-window-bits", "10"]);
    assert_eq!(
        answer_to(&small, &["permessage-deflate; client_max_window_bits"])
            .1
            .as_deref(),
        Some("permessage-deflate; server_max_window_bits=10; client_max_window_bits=10")
    );
    let bad = run_duplex(
        &[
            "serve",
            "echo",
            "ws://127.0.0.1:0/",
            "--compression-window-bits",
            "8",
        ],
        WAIT,
    );
    assert_eq!(bad.code(), Some(2), "{}", bad.stderr);
    assert!(bad.stderr.contains("9 to 15"), "{}", bad.stderr);
}

/// 64 KiB of JSON-like text: records that compress as real ones do.
fn json_text() -> String {
    let mut s = String::from("[");
    let mut i = 0;
    while s.len() < 65_000 {
        s.push_str(&format!(
            r#"{{"id":{i},"name":"user{}","email":"user{}@example.org","active":{},"score":{}.{}}},"#,
            i * 7 % 1000,
            i * 13 % 1000,
            i % 3 == 0,
            i * 31 % 100,
            i % 10
        ));
        i += 1;
    }
    s.push(']');
    s
}

/// tests/py/ws_client.py against `url`: the handshake line, then what it
/// reported.
fn py_client(url: &str, extra: &[&str], steps: Value) -> (Value, Vec<Value>) {
    py_ws_client(url, extra, &[], &steps)
}

#[test]
fn python_client_echoes_with_compression_on_and_off() {
    let s = echo(&[]);
    let big = json_text();
    let steps = json!([
        {"send": big}, {"recv": 1},
        {"send_hex": "00ff".repeat(40_000)}, {"recv": 1},
        {"send": "tiny"}, {"recv": 1},
        {"close": true}
    ]);
    let expected = vec![
        json!({"type": "text", "data": big}),
        json!({"type": "binary", "data": "00ff".repeat(40_000)}),
        json!({"type": "text", "data": "tiny"}),
        json!({"close": 1000, "reason": ""}),
    ];
    // websockets offers permessage-deflate by default.
    let (hs, got) = py_client(s.url(0), &[], steps.clone());
    assert_eq!(hs["extensions"], DEFAULT_ANSWER);
    assert_eq!(got, expected);
    // Not offered: not answered, and the session is the same.
    let (hs, got) = py_client(s.url(0), &["--no-compression"], steps.clone());
    assert_eq!(hs["extensions"], Value::Null);
    assert_eq!(got, expected);
    // Offered to a server with --compression off.
    let off = echo(&["--compression", "off"]);
    let (hs, got) = py_client(off.url(0), &[], steps);
    assert_eq!(hs["extensions"], Value::Null);
    assert_eq!(got, expected);
}

/// Peak resident memory of a process in KiB (VmHWM).
fn peak_rss_kib(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmHWM")
}

#[test]
fn zip_bomb_to_the_server_closes_1009_before_it_is_inflated() {
    let s = echo(&["--max-message", "1048576"]);
    // 200 MB of zeros compress to about 200 KB: what arrives is small,
    // what it inflates to is not.
    let (hs, got) = py_client(
        s.url(0),
        &[],
        json!([{"send_zeros": 200_000_000}, {"wait_close": true}]),
    );
    assert_eq!(hs["extensions"], DEFAULT_ANSWER);
    assert_eq!(
        got.last().map(|v| &v["close"]),
        Some(&json!(1009)),
        "{got:?}"
    );
    let peak = peak_rss_kib(s.pid());
    assert!(
        peak < 64 * 1024,
        "the server's peak RSS was {peak} KiB: the message was inflated further than the limit"
    );
    // The server goes on serving.
    let (_, got) = py_client(s.url(0), &[], json!([{"send": "after"}, {"recv": 1}]));
    assert_eq!(got[0], json!({"type": "text", "data": "after"}));
}

// ---------------------------------------------------------------------------
// websockets as a server for duplex connect and duplex bench

/// The Python echo server (compression as `extra` says).
fn py_server(extra: &[&str]) -> WsPeer {
    let mut args = vec!["60"];
    args.extend_from_slice(extra);
    WsPeer::echo_with(&args)
}

fn connect_to(srv: &WsPeer, extra: &[&str]) -> Interactive {
    let url = srv.url("/");
    let mut args = vec![url.as_str()];
    args.extend_from_slice(extra);
    Interactive::spawn(connect(&args))
}

#[test]
fn connect_compress_to_python_server() {
    let big = json_text();
    let lines = ["first", big.as_str(), "last"];
    // Offered and agreed.
    let mut srv = py_server(&[]);
    let mut c = connect_to(&srv, &["--compress", "-v"]);
    echo_lines(&mut c, &lines);
    let hs = srv.next();
    assert_eq!(hs["headers"]["sec-websocket-extensions"], CLIENT_OFFER);
    let agreed = hs["extensions"].as_str().unwrap_or("");
    assert!(agreed.starts_with("permessage-deflate"), "{hs}");
    assert!(c.stderr().contains("compression agreed"), "{}", c.stderr());
    // Not offered without --compress.
    let mut c = connect_to(&srv, &[]);
    echo_lines(&mut c, &lines);
    for _ in 0..lines.len() + 1 {
        srv.next();
    }
    let hs = srv.next();
    assert_eq!(hs["headers"].get("sec-websocket-extensions"), None, "{hs}");
    assert_eq!(hs["extensions"], Value::Null);
    // Offered to a server that declines.
    let mut srv = py_server(&["--no-compression"]);
    let mut c = connect_to(&srv, &["--compress"]);
    echo_lines(&mut c, &lines);
    let hs = srv.next();
    assert_eq!(hs["headers"]["sec-websocket-extensions"], CLIENT_OFFER);
    assert_eq!(hs["extensions"], Value::Null);
}

#[test]
fn zip_bomb_to_connect_closes_1009() {
    let mut srv = py_server(&[]);
    let mut c = connect_to(&srv, &["--compress", "--max-message", "1048576"]);
    c.write(b"zeros 200000000\n");
    let status = c.wait(LONG).expect("connect ends after the bomb");
    assert_ne!(status.code(), Some(0));
    let err = c.stderr();
    assert!(err.contains("size limit"), "{err}");
    srv.next(); // the handshake
    srv.next(); // the request
    assert_eq!(srv.next(), json!({"close": 1009}));
}

#[test]
fn bench_compress_against_python_and_duplex() {
    let srv = py_server(&[]);
    let duplex_server = echo(&[]);
    for url in [srv.url("/"), duplex_server.url(0).to_string()] {
        let mut cmd: Command = duplex();
        cmd.args([
            "bench",
            &url,
            "--compress",
            "--json-text",
            "-c",
            "2",
            "-n",
            "200",
        ])
        .args(["-s", "65536", "--json"]);
        let out = run(cmd, LONG);
        assert_eq!(out.code(), Some(0), "{url}: {}", out.stderr);
        let report: Value = serde_json::from_str(out.stdout_str().trim()).expect("JSON report");
        assert_eq!(report["messages"], 200, "{url}: {report}");
        assert_eq!(report["errors"]["total"], 0, "{url}: {report}");
    }
}
