//! `duplex connect --listen ws://…` and `wss://…` (docs/behaviour.md,
//! "Relaying"): websocat's `ws-l:` with `connect`'s terminal side, a line
//! a message and a message a line (`--binary`: binary messages), `-k` for
//! one client after another, the URL's path; Python `websockets` and
//! tungstenite as the clients.

mod bridgeutil;
mod common;
mod connect_peers;
mod tlsutil;

use bridgeutil::{WsNext, ws_client, ws_next};
use common::*;
use connect_peers::{json_lines, listen, py_ws_client_spawn};
use serde_json::json;
use tlsutil::{CertFiles, make_cert};
use tokio_tungstenite::tungstenite::{self, Message};

fn text_of(next: WsNext) -> String {
    match next {
        WsNext::Msg(Message::Text(t)) => t.to_string(),
        other => panic!("expected a text message, got {other:?}"),
    }
}

/// One message each way, then the client closes and the command ends.
fn converse_and_close(d: &mut Interactive, url: &str, cert: &CertFiles) {
    let mut ws = ws_client(url, cert);
    ws.send(Message::text("from the client")).expect("send");
    assert_eq!(d.read_line(WAIT), "from the client");
    d.write(b"from duplex\n");
    assert_eq!(text_of(ws_next(&mut ws)), "from duplex");
    ws.close(None).expect("close");
    assert!(matches!(ws_next(&mut ws), WsNext::Close(_)));
}

#[test]
fn listen_on_ws_serves_one_client_a_line_a_message() {
    let dir = tempdir();
    let cert = make_cert(dir.path());
    let (mut d, url) = listen(&["ws://127.0.0.1:0/"]);
    converse_and_close(&mut d, &format!("{url}any/path"), &cert);
    let status = d.wait(WAIT).expect("exits after the session");
    assert_eq!(status.code(), Some(0), "{}", d.stderr());
    // duplex is the server here: the one who closed is the client.
    let stderr = d.stderr();
    assert!(stderr.contains("duplex: closed by the client"), "{stderr}");
    assert!(!stderr.contains("the server"), "{stderr}");
}

#[test]
fn listen_on_wss_with_binary_and_keep_listening() {
    let dir = tempdir();
    let cert = make_cert(dir.path());
    let (c, k) = cert.paths();
    let (mut d, url) = listen(&[
        "-k",
        "--binary",
        "wss://127.0.0.1:0/chat",
        "--tls-cert",
        &c,
        "--tls-key",
        &k,
    ]);
    // Another path is refused (404), and -k listens on.
    let other = url.replace("/chat", "/other");
    let authority = other["wss://".len()..]
        .split('/')
        .next()
        .unwrap_or_default();
    let stream = std::net::TcpStream::connect(authority).expect("connect");
    let tls = tlsutil::TlsStream::over(stream, &cert.cert);
    match tungstenite::client(other.replace("wss://", "ws://"), tls) {
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(r))) => {
            assert_eq!(r.status().as_u16(), 404)
        }
        Err(e) => panic!("expected 404, got {e}"),
        Ok(_) => panic!("expected 404, the handshake succeeded"),
    }
    for round in 0..2 {
        let mut ws = ws_client(&url, &cert);
        // Stdin reaches each client in turn.
        d.write(format!("binary {round}\n").as_bytes());
        match ws_next(&mut ws) {
            WsNext::Msg(Message::Binary(b)) => assert_eq!(b, format!("binary {round}")),
            other => panic!("expected a binary message, got {other:?}: {}", d.stderr()),
        }
        ws.send(Message::binary(b"back".to_vec())).expect("send");
        assert_eq!(d.read_line(WAIT), "back");
        ws.close(None).expect("close");
        assert!(matches!(ws_next(&mut ws), WsNext::Close(_)));
    }
    assert!(
        d.wait(std::time::Duration::from_millis(300)).is_none(),
        "-k keeps listening: {}",
        d.stderr()
    );
}

#[test]
fn keep_listening_sends_stdin_lines_to_the_next_client() {
    let dir = tempdir();
    let cert = make_cert(dir.path());
    let (mut d, url) = listen(&["-k", "ws://127.0.0.1:0/"]);
    converse_and_close(&mut d, &url, &cert);
    // The first session's read of stdin was pending when it ended: the
    // lines typed now belong to the second client, none of them lost.
    let mut ws = ws_client(&url, &cert);
    d.write(b"first for the second\nsecond for the second\n");
    assert_eq!(
        text_of(ws_next(&mut ws)),
        "first for the second",
        "{}",
        d.stderr()
    );
    assert_eq!(
        text_of(ws_next(&mut ws)),
        "second for the second",
        "{}",
        d.stderr()
    );
    ws.send(Message::text("and back")).expect("send");
    assert_eq!(d.read_line(WAIT), "and back");
    ws.close(None).expect("close");
    assert!(matches!(ws_next(&mut ws), WsNext::Close(_)));
}

#[test]
fn listen_on_ws_with_python_websockets_as_the_client() {
    let (mut d, url) = listen(&["ws://127.0.0.1:0/"]);
    let steps = json!([{"send": "hello from python"}, {"recv": 1}, {"close": true}]);
    let mut client = py_ws_client_spawn(&format!("{url}py"), &[], &[], &steps);
    assert_eq!(d.read_line(WAIT), "hello from python");
    d.write(b"hello from duplex\n");
    let out = String::from_utf8_lossy(&client.read_to_end(WAIT)).into_owned();
    let lines = json_lines(&out);
    assert!(
        lines.contains(&json!({"type": "text", "data": "hello from duplex"})),
        "{out}"
    );
    assert!(lines.iter().any(|l| l["close"] == 1000), "{out}");
    let status = d.wait(WAIT).expect("exits after the session");
    assert_eq!(status.code(), Some(0), "{}", d.stderr());
}
