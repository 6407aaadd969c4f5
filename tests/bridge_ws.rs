//! A bridge with a WebSocket side (docs/behaviour.md, "Relaying"): TO is
//! dialled before the client's handshake is answered, and a client whose
//! TO is down, slow or refuses its own handshake (403) gets HTTP 502 and
//! one log line; close codes pass from WebSocket to WebSocket, a stream's
//! EOF becomes close 1000 and a close becomes EOF; `--lines` and `--text`
//! make messages of a stream; `--max-message` ends a session with 1009;
//! shutdown closes with 1001; the origin policy holds; a WebSocket TO
//! chooses among the client's subprotocols.

mod bridgeutil;
mod common;
mod connect_peers;
mod tlsutil;
mod wsutil;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use bridgeutil::*;
use common::*;
use connect_peers::full_backlog;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};
use wsutil::{RecordingServer, Seen, accept_within, http_raw, try_ws};

const METRICS: [&str; 2] = ["--metrics", "tcp://127.0.0.1:0"];

fn with_metrics<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = METRICS.to_vec();
    v.extend_from_slice(extra);
    v
}

fn failures(b: &Server, kind: &str) -> Option<u64> {
    let text = metrics(b.url(0));
    let key = format!("duplex_bridge_upstream_failures_total{{kind=\"{kind}\"}}");
    sample(&text, &key)
}

/// The handshake with a bridge's ws:// FROM fails with HTTP `status`.
fn refused_with(url: &str, status: u16) -> String {
    match try_ws(url, &[]) {
        Err(tungstenite::Error::Http(r)) => {
            assert_eq!(r.status().as_u16(), status, "{r:?}");
            String::from_utf8_lossy(r.body().as_deref().unwrap_or_default()).into_owned()
        }
        Err(e) => panic!("expected HTTP {status}, got {e}"),
        Ok(_) => panic!("expected HTTP {status}, the handshake succeeded"),
    }
}

/// A ws:// FROM of a bridge to `to`.
fn ws_bridge(to: &str, extra: &[&str]) -> Server {
    bridge("ws://127.0.0.1:0/", to, &with_metrics(extra))
}

fn ws_url(b: &Server, path: &str) -> String {
    format!("{}{path}", bridge_url(b).trim_end_matches('/'))
}

#[test]
fn a_websocket_client_gets_502_when_to_refuses() {
    let b = ws_bridge(&format!("tcp://127.0.0.1:{}", closed_port()), &[]);
    let body = refused_with(&ws_url(&b, "/any"), 502);
    assert!(body.contains("cannot reach its upstream"), "{body}");
    let lines = log_lines(&b, &["session closed", "upstream unreachable"], 1);
    assert!(lines[0].contains("WARN"), "{lines:?}");
    assert!(lines[0].contains("connection refused"), "{lines:?}");
    sessions_end(b.url(0), "ws");
    assert_eq!(failures(&b, "refused"), Some(1));
}

#[test]
fn a_websocket_client_gets_502_after_connect_timeout() {
    let hang = full_backlog();
    let b = ws_bridge(
        &format!("tcp://{}", hang.addr),
        &["--connect-timeout", "500ms"],
    );
    let start = Instant::now();
    refused_with(&ws_url(&b, "/"), 502);
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(450),
        "answered after {took:?}"
    );
    assert!(took < Duration::from_secs(5), "answered after {took:?}");
    let lines = log_lines(&b, &["session closed", "upstream unreachable"], 1);
    assert!(lines[0].contains("timed out after 500ms"), "{lines:?}");
    sessions_end(b.url(0), "ws");
    assert_eq!(failures(&b, "timeout"), Some(1));
}

/// A WebSocket server that refuses every handshake with 403.
fn forbidding_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("ws://{}/app", listener.local_addr().expect("addr"));
    thread::spawn(move || {
        while let Some(mut s) = accept_within(&listener, WAIT) {
            let _ = wsutil::read_head(&mut s);
            let body = "no entry\r\nfor you\n";
            let _ = write!(
                s,
                "HTTP/1.1 403 Forbidden\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

#[test]
fn an_upstream_refusing_the_handshake_with_403_gives_502_or_a_clean_end() {
    let to = forbidding_server();
    let ws = ws_bridge(&to, &[]);
    refused_with(&ws_url(&ws, "/"), 502);
    let lines = log_lines(&ws, &["session closed", "upstream unreachable"], 1);
    assert!(
        lines[0].contains("refused the WebSocket handshake with HTTP 403"),
        "{lines:?}"
    );
    // The body is logged on the same line, its line breaks made spaces.
    assert!(lines[0].contains(": no entry for you"), "{lines:?}");
    sessions_end(ws.url(0), "ws");
    assert_eq!(failures(&ws, "websocket"), Some(1));
    // A stream client is closed without a word.
    let tcp = bridge("tcp://127.0.0.1:0", &to, &with_metrics(&[]));
    let mut c = Conn::to(bridge_url(&tcp));
    c.expect_eof(WAIT);
    log_lines(&tcp, &["session closed", "HTTP 403"], 1);
    sessions_end(tcp.url(0), "tcp");
    assert_eq!(failures(&tcp, "websocket"), Some(1));
}

#[test]
fn close_codes_pass_from_websocket_to_websocket() {
    // The client's close reaches the upstream with its code.
    let up = RecordingServer::start();
    let b = ws_bridge(&up.url("/rec"), &[]);
    let mut ws = wsutil::ws(&ws_url(&b, "/"));
    assert!(matches!(up.next(), Seen::Request(..)));
    ws.send(Message::text("hi")).expect("send");
    assert_eq!(up.next(), Seen::Text("hi".into()));
    let frame = CloseFrame {
        code: CloseCode::from(4000),
        reason: "client bye".into(),
    };
    ws.close(Some(frame)).expect("close");
    assert_eq!(up.next(), Seen::Close(Some(4000)));
    log_lines(&b, &["session closed", "client closed first"], 1);
    sessions_end(b.url(0), "ws");

    // The upstream's close reaches the client with its code and reason.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let to = format!("ws://{}/", listener.local_addr().expect("addr"));
    let server = thread::spawn(move || {
        let s = accept_within(&listener, WAIT).expect("the bridge dials");
        let mut ws = tungstenite::accept(s).expect("handshake");
        let first = ws.read().expect("a message");
        let frame = CloseFrame {
            code: CloseCode::from(4001),
            reason: "upstream bye".into(),
        };
        ws.close(Some(frame)).expect("close");
        while ws.read().is_ok() {}
        first
    });
    let b = ws_bridge(&to, &[]);
    let mut ws = wsutil::ws(&ws_url(&b, "/"));
    ws.send(Message::binary(vec![1, 2, 3])).expect("send");
    let (code, reason) = wsutil::expect_close(&mut ws, WAIT);
    assert_eq!((code, reason.as_str()), (4001, "upstream bye"));
    let first = server.join().expect("server");
    assert_eq!(first, Message::binary(vec![1, 2, 3]));
    log_lines(&b, &["session closed", "upstream closed first"], 1);
    sessions_end(b.url(0), "ws");
}

#[test]
fn a_stream_eof_is_close_1000_and_a_close_is_eof() {
    // tcp → ws: the client's EOF closes the upstream WebSocket with 1000.
    let up = RecordingServer::start();
    let b = bridge("tcp://127.0.0.1:0", &up.url("/"), &[]);
    let mut c = Conn::to(bridge_url(&b));
    assert!(matches!(up.next(), Seen::Request(..)));
    c.send(b"bytes");
    assert_eq!(up.next(), Seen::Binary(b"bytes".to_vec()));
    assert_eq!(c.read_exact_within(5, WAIT), b"bytes");
    c.shutdown_write();
    assert_eq!(up.next(), Seen::Close(Some(1000)));
    c.expect_eof(WAIT);

    // ws → tcp: the client's close is the upstream's EOF, and the
    // upstream's EOF is the client's close 1000.
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let to = format!("tcp://{}", l.local_addr().expect("addr"));
    let b = ws_bridge(&to, &[]);
    let mut ws = wsutil::ws(&ws_url(&b, "/"));
    let mut s = accept_within(&l, WAIT).expect("dialled");
    ws.send(Message::binary(b"to upstream".to_vec()))
        .expect("send");
    ws.close(None).expect("close");
    let mut got = Vec::new();
    s.read_to_end(&mut got).expect("EOF");
    assert_eq!(got, b"to upstream");
    let mut ws = wsutil::ws(&ws_url(&b, "/"));
    let mut s = accept_within(&l, WAIT).expect("dialled");
    s.write_all(b"last words").expect("write");
    drop(s);
    assert_eq!(
        wsutil::recv(&mut ws),
        Message::binary(b"last words".to_vec())
    );
    assert_eq!(wsutil::expect_close(&mut ws, WAIT).0, 1000);
    log_lines(&b, &["session closed", "upstream closed first"], 1);
    sessions_end(b.url(0), "ws");
}

#[test]
fn lines_and_text_make_text_messages_of_a_stream() {
    let up = RecordingServer::start();
    let b = bridge("tcp://127.0.0.1:0", &up.url("/"), &["--lines", "--text"]);
    let mut c = Conn::to(bridge_url(&b));
    assert!(matches!(up.next(), Seen::Request(..)));
    c.send("a\nbé\nno end".as_bytes());
    assert_eq!(up.next(), Seen::Text("a\n".into()));
    assert_eq!(up.next(), Seen::Text("bé\n".into()));
    assert_eq!(c.read_line(), "a");
    assert_eq!(c.read_line(), "bé");
    // The last line goes at the client's EOF.
    c.shutdown_write();
    assert_eq!(up.next(), Seen::Text("no end".into()));

    // Without --text, bytes are binary messages; not UTF-8 stays binary.
    let up = RecordingServer::start();
    let b = bridge("tcp://127.0.0.1:0", &up.url("/"), &["--text"]);
    let mut c = Conn::to(bridge_url(&b));
    assert!(matches!(up.next(), Seen::Request(..)));
    c.send(b"plain");
    assert_eq!(up.next(), Seen::Text("plain".into()));
    c.read_exact_within(5, WAIT);
    c.send(&[0xff, 0xfe]);
    assert_eq!(up.next(), Seen::Binary(vec![0xff, 0xfe]));
}

#[test]
fn a_message_over_max_message_ends_the_session_with_1009() {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let to = format!("tcp://{}", l.local_addr().expect("addr"));
    let b = ws_bridge(&to, &["--max-message", "1000"]);
    let mut ws = wsutil::ws(&ws_url(&b, "/"));
    let mut s = accept_within(&l, WAIT).expect("dialled");
    ws.send(Message::binary(vec![7u8; 1000])).expect("send");
    let mut got = vec![0u8; 1000];
    s.read_exact(&mut got).expect("relayed");
    ws.send(Message::binary(vec![7u8; 1001])).expect("send");
    assert_eq!(wsutil::expect_close(&mut ws, WAIT).0, 1009);
    let lines = log_lines(&b, &["session closed", "client error"], 1);
    assert!(lines[0].contains("over the size limit"), "{lines:?}");
    let text = metrics(b.url(0));
    let key = "duplex_limit_hits_total{limit=\"max_message\",service=\"bridge\",transport=\"ws\"}";
    assert_eq!(sample(&text, key), Some(1), "{text}");
    sessions_end(b.url(0), "ws");
}

#[test]
fn shutdown_closes_websocket_clients_with_1001() {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let to = format!("tcp://{}", l.local_addr().expect("addr"));
    let mut b = ws_bridge(&to, &["--shutdown-timeout", "3s"]);
    let mut ws = wsutil::ws(&ws_url(&b, "/"));
    let _s = accept_within(&l, WAIT).expect("dialled");
    b.signal(libc::SIGTERM);
    assert_eq!(wsutil::expect_close(&mut ws, WAIT).0, 1001);
    let status = b.wait_exit(WAIT).expect("exits");
    assert_eq!(status.code(), Some(0), "{}", b.stderr());
    assert!(
        b.stderr().contains("reason=server shutdown"),
        "{}",
        b.stderr()
    );
}

#[test]
fn the_origin_policy_and_the_path_hold_before_anything_is_dialled() {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let to = format!("tcp://{}", l.local_addr().expect("addr"));
    let b = bridge("ws://127.0.0.1:0/vnc", &to, &with_metrics(&[]));
    let url = bridge_url(&b).to_string();
    match try_ws(&url, &[("Origin", "http://elsewhere.example")]) {
        Err(tungstenite::Error::Http(r)) => assert_eq!(r.status().as_u16(), 403),
        other => panic!("expected 403, got {:?}", other.map(|_| ())),
    }
    let other_path = url.replace("/vnc", "/other");
    match try_ws(&other_path, &[]) {
        Err(tungstenite::Error::Http(r)) => assert_eq!(r.status().as_u16(), 404),
        other => panic!("expected 404, got {:?}", other.map(|_| ())),
    }
    assert!(accept_within(&l, BRIEF).is_none(), "dialled for a refusal");
    // A plain request to the path is told to upgrade; /healthz answers.
    let addr = wsutil::ws_addr(&url);
    let r = http_raw(
        addr,
        b"GET /vnc HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .expect("an answer");
    assert_eq!(r.status, 426, "{r:?}");
    let mut ws = wsutil::ws(&url);
    assert!(accept_within(&l, WAIT).is_some(), "dialled for the client");
    ws.close(None).expect("close");
}

/// A WebSocket server for one client that speaks only `speaks` (if any)
/// of the subprotocols it is offered, and says what it was offered.
// The handshake callback's error type is tungstenite's HTTP response.
#[allow(clippy::result_large_err)]
fn choosy_server(speaks: Option<&'static str>) -> (String, mpsc::Receiver<Option<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("ws://{}/", listener.local_addr().expect("addr"));
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let Some(s) = accept_within(&listener, WAIT) else {
            return;
        };
        let callback = move |req: &Request, mut resp: Response| {
            let offered = req
                .headers()
                .get("sec-websocket-protocol")
                .and_then(|v| v.to_str().ok())
                .map(String::from);
            let asked = |p: &&str| offered.iter().any(|o| o.split(',').any(|x| x.trim() == *p));
            if let Some(p) = speaks.filter(asked) {
                let h = resp.headers_mut();
                h.insert("sec-websocket-protocol", HeaderValue::from_static(p));
            }
            let _ = tx.send(offered);
            Ok(resp)
        };
        if let Ok(mut ws) = tungstenite::accept_hdr(s, callback) {
            while ws.read().is_ok() {}
        }
    });
    (url, rx)
}

/// The head (lower-cased) of the bridge's answer to a handshake asking for
/// the subprotocols `protocols`.
fn answer_to(b: &Server, protocols: &str) -> String {
    let addr = wsutil::ws_addr(&ws_url(b, "/"));
    let mut s = wsutil::tcp(addr);
    write!(
        s,
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: {protocols}\r\n\r\n"
    )
    .expect("send the handshake");
    let head = wsutil::read_head(&mut s).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    head
}

/// The subprotocol an answer's head agrees to.
fn agreed(head: &str) -> Option<&str> {
    head.lines()
        .find_map(|l| l.strip_prefix("sec-websocket-protocol:"))
        .map(str::trim)
}

#[test]
fn a_websocket_to_is_offered_the_client_subprotocols_and_its_choice_is_the_answer() {
    // TO speaks the client's second choice: the client hears that one.
    let (to, offered) = choosy_server(Some("chat"));
    let b = ws_bridge(&to, &[]);
    let head = answer_to(&b, "first, chat");
    let seen = offered.recv_timeout(WAIT).expect("TO was dialled");
    assert_eq!(seen.as_deref(), Some("first, chat"));
    assert_eq!(agreed(&head), Some("chat"), "{head}");

    // TO speaks none of them: the client is answered with none.
    let (to, offered) = choosy_server(None);
    let b = ws_bridge(&to, &[]);
    let head = answer_to(&b, "first");
    let seen = offered.recv_timeout(WAIT).expect("TO was dialled");
    assert_eq!(seen.as_deref(), Some("first"));
    assert_eq!(agreed(&head), None, "{head}");

    // A stream TO has no say: the bridge agrees to the first itself.
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let b = ws_bridge(&format!("tcp://{}", l.local_addr().expect("addr")), &[]);
    let head = answer_to(&b, "first, chat");
    assert_eq!(agreed(&head), Some("first"), "{head}");
}
