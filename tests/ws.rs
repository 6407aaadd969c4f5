//! WebSocket over real sockets: every service over `ws://`, close codes,
//! limits, HTTP routes of WebSocket listeners, graceful shutdown, several
//! paths on one port, and `duplex connect ws://`.
// The crate denies unsafe code; one test here signals the client process
// (libc::kill).
#![allow(unsafe_code)]

mod common;
mod wsutil;

use std::io::Write;
use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use tokio_tungstenite::tungstenite::{Error, Message};
use wsutil::*;

/// `duplex serve SERVICE ws://127.0.0.1:0/PATH EXTRA…`.
fn serve_ws(service: &str, path: &str, extra: &[&str]) -> Server {
    Server::serve(service, &[&format!("ws://127.0.0.1:0{path}")], extra)
}

fn addr_of(s: &Server) -> SocketAddr {
    ws_addr(s.url(0))
}

/// The URL `s` serves `service` on.
fn url_of<'a>(s: &'a Server, service: &str) -> &'a str {
    &s.listening
        .iter()
        .find(|(svc, _)| svc == service)
        .unwrap_or_else(|| panic!("no {service} listener in {:?}", s.listening))
        .1
}

/// Every service on its own path of one port, through `--config`.
fn serve_all(dir: &tempfile::TempDir, limits: &str) -> Server {
    let config = dir.path().join("duplex.toml");
    let mut toml = format!("[limits]\n{limits}\n");
    for svc in ["echo", "daytime", "random", "counter"] {
        toml.push_str(&format!(
            "[[listener]]\nservice = \"{svc}\"\nurls = [\"ws://127.0.0.1:0/{svc}\"]\n"
        ));
    }
    std::fs::write(&config, toml).expect("write the configuration");
    Server::start(&["serve", "--config", config.to_str().expect("utf-8")], 4)
}

fn looks_like_rfc3339(t: &str) -> bool {
    let b = t.as_bytes();
    b.len() >= 20 && b[4] == b'-' && b[7] == b'-' && b[10] == b'T' && b[13] == b':'
}

// ---------------------------------------------------------------------------
// Services

#[test]
fn echo_returns_text_messages_as_text() {
    let s = serve_ws("echo", "/echo", &[]);
    let mut ws = ws(s.url(0));
    for text in [
        "hello",
        "",
        "  STOP  ",
        "STOP",
        "naïve — ünïcødé ✓",
        &"x".repeat(70_000),
    ] {
        ws.send(Message::text(text)).expect("send");
        match recv(&mut ws) {
            Message::Text(t) => assert_eq!(t.as_str(), text),
            other => panic!("echo changed the type of a text message: {other:?}"),
        }
    }
}

#[test]
fn echo_returns_binary_messages_as_binary() {
    let s = serve_ws("echo", "/echo", &[]);
    let mut ws = ws(s.url(0));
    let data: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    for payload in [vec![], b"STOP".to_vec(), vec![0xff, 0xfe, 0x00], data] {
        ws.send(Message::binary(payload.clone())).expect("send");
        match recv(&mut ws) {
            Message::Binary(b) => assert!(b == payload, "binary payload changed"),
            other => panic!("echo changed the type of a binary message: {other:?}"),
        }
    }
}

#[test]
fn daytime_greets_on_connect_and_answers_every_message() {
    let s = serve_ws("daytime", "/daytime", &["--utc"]);
    let mut ws = ws(s.url(0));
    let greeting = recv_text(&mut ws);
    assert!(looks_like_rfc3339(&greeting), "greeting: {greeting:?}");
    assert!(
        greeting.ends_with("+00:00") || greeting.ends_with('Z'),
        "{greeting}"
    );
    for req in ["", "now", "what time is it?"] {
        let t = ask(&mut ws, req);
        assert!(looks_like_rfc3339(&t), "reply to {req:?}: {t:?}");
    }
    ws.send(Message::binary(b"x".to_vec())).expect("send");
    let t = recv_text(&mut ws);
    assert!(looks_like_rfc3339(&t), "reply to a binary message: {t:?}");
}

#[test]
fn random_count_request_gets_that_many_text_messages() {
    let s = serve_ws("random", "/random", &[]);
    let mut ws = ws(s.url(0));
    send_text(&mut ws, "25");
    for _ in 0..25 {
        let n: i64 = recv_text(&mut ws).parse().expect("an integer");
        assert!((1..=1000).contains(&n), "{n} outside the default range");
    }
    // Exactly 25: the reply to the next request comes next.
    let n: i64 = ask(&mut ws, "7 7").parse().expect("an integer");
    assert_eq!(n, 7);
    send_text(&mut ws, "3 -5 -4");
    for _ in 0..3 {
        let n: i64 = recv_text(&mut ws).parse().expect("an integer");
        assert!((-5..=-4).contains(&n), "{n}");
    }
    let n: i64 = ask(&mut ws, "").parse().expect("an integer");
    assert!((1..=1000).contains(&n));
}

#[test]
fn counter_counts_websocket_sessions_but_not_plain_http() {
    let s = serve_ws("counter", "/counter", &[]);
    let mut a = ws(s.url(0));
    assert_eq!(ask(&mut a, ""), "1");
    assert_eq!(http(addr_of(&s), "GET", "/healthz").status, 200);
    assert_eq!(http(addr_of(&s), "GET", "/").status, 200);
    assert_eq!(http(addr_of(&s), "GET", "/counter").status, 426);
    let mut b = ws(s.url(0));
    assert_eq!(ask(&mut b, "x"), "2");
    assert_eq!(ask(&mut a, "again"), "2");
}

#[test]
fn stop_closes_line_services_with_1000() {
    let dir = tempdir();
    let s = serve_all(&dir, "");
    for svc in ["daytime", "random", "counter"] {
        let mut ws = ws(url_of(&s, svc));
        if svc == "daytime" {
            recv_text(&mut ws);
        }
        send_text(&mut ws, " STOP ");
        let (code, reason) = expect_close(&mut ws, WAIT);
        assert_eq!(code, 1000, "{svc}: close code");
        assert_eq!(reason, "STOP", "{svc}: close reason");
    }
}

#[test]
fn bad_requests_get_err_messages_and_the_session_goes_on() {
    let s = serve_ws("random", "/random", &["--max-count", "100"]);
    let mut ws = ws(s.url(0));
    for bad in ["9 3", "banana", "0", "101", "1 2 3 4"] {
        let reply = ask(&mut ws, bad);
        assert!(reply.starts_with("ERR "), "{bad:?} got {reply:?}");
    }
    assert_eq!(ask(&mut ws, "9 3"), "ERR LO 9 is greater than HI 3");
    let n: i64 = ask(&mut ws, "").parse().expect("the session goes on");
    assert!((1..=1000).contains(&n));
}

// ---------------------------------------------------------------------------
// Protocol behaviour

#[test]
fn pings_are_answered_with_pongs() {
    let s = serve_ws("counter", "/c", &[]);
    let mut raw = raw_ws(addr_of(&s), "/c");
    raw.write_all(&client_frame(OP_PING, b"are you there"))
        .expect("send a ping");
    let (first, payload) = read_frame(&mut raw).expect("a pong");
    assert_eq!(first, 0x80 | OP_PONG);
    assert_eq!(payload, b"are you there");
}

#[test]
fn over_max_message_closes_1009_and_others_are_unharmed() {
    let s = serve_ws("echo", "/echo", &["--max-message", "1024"]);
    let mut other = ws(s.url(0));
    let mut big = ws(s.url(0));
    big.send(Message::binary(vec![7u8; 1024])).expect("send");
    assert_eq!(recv(&mut big), Message::binary(vec![7u8; 1024]));
    big.send(Message::binary(vec![7u8; 4096])).expect("send");
    let (code, _) = expect_close(&mut big, WAIT);
    assert_eq!(code, 1009);
    // A message over the limit in small fragments is refused too.
    let mut raw = raw_ws(addr_of(&s), "/echo");
    raw.write_all(&frame(OP_BINARY, &[1; 600], Some([1, 2, 3, 4])))
        .expect("send");
    raw.write_all(&frame(0, &[1; 600], Some([1, 2, 3, 4])))
        .expect("send");
    raw.write_all(&frame(0x80, &[1; 600], Some([1, 2, 3, 4])))
        .expect("send");
    assert_eq!(read_close_code(&mut raw), 1009);
    assert_eq!(ask(&mut other, "still here"), "still here");
    assert_eq!(ask(&mut ws(s.url(0)), "new client"), "new client");
}

#[test]
fn frames_sent_right_behind_the_handshake_are_served() {
    // A client may write its first frames in the same packet as the
    // upgrade request, before the 101 arrives: hyper has read them already
    // and the session must still see them, in order.
    let s = Server::serve("echo", &["ws://127.0.0.1:0/echo"], &[]);
    let addr = ws_addr(s.url(0));
    let mut c = tcp(addr);
    let mut bytes = format!(
        "GET /echo HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .into_bytes();
    bytes.extend_from_slice(&client_frame(OP_TEXT, b"first"));
    bytes.extend_from_slice(&client_frame(OP_BINARY, b"second"));
    c.write_all(&bytes)
        .expect("handshake and frames in one write");
    let head = read_head(&mut c);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let got: Vec<(u8, Vec<u8>)> = (0..2).filter_map(|_| read_frame(&mut c)).collect();
    assert_eq!(
        got,
        vec![
            (0x80 | OP_TEXT, b"first".to_vec()),
            (0x80 | OP_BINARY, b"second".to_vec())
        ]
    );
}

#[test]
fn invalid_utf8_text_closes_1007() {
    let s = serve_ws("echo", "/echo", &[]);
    let mut raw = raw_ws(addr_of(&s), "/echo");
    raw.write_all(&client_frame(OP_TEXT, &[b'o', b'k', 0xff, 0xfe]))
        .expect("send");
    assert_eq!(read_close_code(&mut raw), 1007);
}

#[test]
fn unmasked_client_frame_closes_1002() {
    let s = serve_ws("echo", "/echo", &[]);
    let mut raw = raw_ws(addr_of(&s), "/echo");
    raw.write_all(&frame(0x80 | OP_TEXT, b"hello", None))
        .expect("send");
    assert_eq!(read_close_code(&mut raw), 1002);
}

#[test]
fn reserved_bits_close_1002() {
    let s = serve_ws("echo", "/echo", &[]);
    let mut raw = raw_ws(addr_of(&s), "/echo");
    // RSV1 without a negotiated extension.
    raw.write_all(&frame(0x80 | 0x40 | OP_TEXT, b"hello", Some([9, 8, 7, 6])))
        .expect("send");
    assert_eq!(read_close_code(&mut raw), 1002);
}

#[test]
fn idle_session_closes_1000_idle_timeout() {
    let s = serve_ws("echo", "/echo", &["--idle-timeout", "1s"]);
    let mut ws = ws(s.url(0));
    // Traffic keeps the session alive.
    for _ in 0..3 {
        thread::sleep(Duration::from_millis(400));
        assert_eq!(ask(&mut ws, "tick"), "tick");
    }
    let start = Instant::now();
    let (code, reason) = expect_close(&mut ws, WAIT);
    let waited = start.elapsed();
    assert_eq!((code, reason.as_str()), (1000, "idle timeout"));
    assert!(
        waited >= Duration::from_millis(800),
        "closed after only {waited:?}"
    );
}

#[test]
fn ping_interval_drops_peers_that_never_answer() {
    let s = serve_ws("echo", "/echo", &["--ping-interval", "300ms"]);
    let mut raw = raw_ws(addr_of(&s), "/echo");
    let start = Instant::now();
    let mut pings = 0;
    // Read everything, answer nothing; the server must end the connection.
    while let Some((first, _)) = read_frame(&mut raw) {
        if first & 0x0f == OP_PING {
            pings += 1;
        }
        assert!(start.elapsed() < WAIT, "still connected after {WAIT:?}");
    }
    assert!(pings >= 1, "dropped without a ping");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "dropped only after {:?}",
        start.elapsed()
    );
}

#[test]
fn ping_interval_keeps_peers_that_answer() {
    let s = serve_ws("echo", "/echo", &["--ping-interval", "200ms"]);
    let mut ws = ws(s.url(0));
    // tungstenite answers every ping while reading.
    match next_within(&mut ws, Duration::from_millis(1500)) {
        Next::Timeout => {}
        other => panic!("expected the session to stay open, got {other:?}"),
    }
    assert_eq!(ask(&mut ws, "alive"), "alive");
}

#[test]
fn subprotocol_asked_for_is_agreed() {
    let s = serve_ws("echo", "/echo", &[]);
    let (mut ws, resp) =
        try_ws(s.url(0), &[("Sec-WebSocket-Protocol", "chat, superchat")]).expect("handshake");
    assert_eq!(
        resp.headers()
            .get("sec-websocket-protocol")
            .map(|v| v.to_str().expect("ascii")),
        Some("chat")
    );
    assert_eq!(ask(&mut ws, "hi"), "hi");
}

// ---------------------------------------------------------------------------
// Limits and HTTP

#[test]
fn max_connections_refuses_upgrades_with_503() {
    let s = serve_ws("echo", "/echo", &["--max-connections", "1"]);
    let mut first = ws(s.url(0));
    match try_ws(s.url(0), &[]) {
        Err(Error::Http(resp)) => assert_eq!(resp.status().as_u16(), 503),
        Err(e) => panic!("expected HTTP 503, got {e}"),
        Ok(_) => panic!("a session over --max-connections was accepted"),
    }
    assert_eq!(ask(&mut first, "unharmed"), "unharmed");
    first.close(None).expect("close");
    let _ = next_within(&mut first, WAIT);
    drop(first);
    // The slot is free again.
    let ok = eventually(WAIT, || try_ws(s.url(0), &[]).is_ok());
    assert!(ok, "no session possible after the first one closed");
}

#[test]
fn root_serves_the_console_listing_every_service_path() {
    let dir = tempdir();
    let s = serve_all(&dir, "");
    let r = http(ws_addr(url_of(&s, "echo")), "GET", "/");
    assert_eq!(r.status, 200);
    assert!(r.head.contains("content-type: text/html"), "{}", r.head);
    assert!(r.body.contains("<html"), "not HTML");
    for svc in ["echo", "daytime", "random", "counter"] {
        let entry = format!("{{\"path\":\"/{svc}\",\"service\":\"{svc}\"}}");
        assert!(r.body.contains(&entry), "the console does not list /{svc}");
    }
    for external in ["http://", "https://", "src=\"//"] {
        assert!(
            !r.body.contains(external),
            "the console loads something external ({external})"
        );
    }
}

#[test]
fn root_serves_the_console_even_when_a_service_is_mounted_at_root() {
    let s = serve_ws("echo", "/", &[]);
    let r = http(addr_of(&s), "GET", "/");
    assert_eq!(r.status, 200);
    assert!(r.body.contains("{\"path\":\"/\",\"service\":\"echo\"}"));
    assert_eq!(ask(&mut ws(s.url(0)), "upgrade works"), "upgrade works");
}

#[test]
fn healthz_answers_ok() {
    let s = serve_ws("echo", "/echo", &[]);
    let r = http(addr_of(&s), "GET", "/healthz");
    assert_eq!((r.status, r.body.trim()), (200, "ok"));
}

#[test]
fn plain_request_to_a_websocket_path_is_426() {
    let s = serve_ws("daytime", "/daytime", &[]);
    let r = http(addr_of(&s), "GET", "/daytime");
    assert_eq!(r.status, 426);
    assert!(r.head.contains("upgrade: websocket"), "{}", r.head);
    assert_eq!(r.body.trim().lines().count(), 1, "{:?}", r.body);
    assert!(r.body.contains("WebSocket"), "{:?}", r.body);
}

#[test]
fn unknown_path_is_404_plain_or_upgrade() {
    let s = serve_ws("echo", "/echo", &[]);
    assert_eq!(http(addr_of(&s), "GET", "/nothing").status, 404);
    match try_ws(&format!("ws://{}/nothing", addr_of(&s)), &[]) {
        Err(Error::Http(resp)) => assert_eq!(resp.status().as_u16(), 404),
        other => panic!("expected 404, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn garbage_http_gets_4xx_and_the_server_survives() {
    let s = serve_ws("echo", "/echo", &[]);
    let a = addr_of(&s);
    let garbage: [&[u8]; 4] = [
        b"\x00\x01\x02\xff\xfe garbage\r\n\r\n",
        b"GET /echo HTTP/9.9\r\n\r\n",
        b"GET /echo HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n",
        b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 99\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    ];
    for g in garbage {
        if let Some(r) = http_raw(a, g) {
            assert!(
                (400..500).contains(&r.status),
                "{:?} got {}",
                String::from_utf8_lossy(g),
                r.status
            );
        }
    }
    // A header section over the limit.
    let mut huge = b"GET /echo HTTP/1.1\r\nX: ".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 200_000));
    huge.extend_from_slice(b"\r\n\r\n");
    let mut c = tcp(a);
    let _ = c.write_all(&huge);
    drop(c);
    assert_eq!(ask(&mut ws(s.url(0)), "still serving"), "still serving");
    assert_eq!(http(a, "GET", "/healthz").status, 200);
}

#[test]
fn truncated_upgrade_request_is_closed_and_the_server_survives() {
    let s = serve_ws("echo", "/echo", &["--idle-timeout", "2s"]);
    let a = addr_of(&s);
    let mut c = tcp(a);
    c.write_all(b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Up")
        .expect("send");
    c.shutdown(std::net::Shutdown::Write).expect("half-close");
    let mut rest = Vec::new();
    let start = Instant::now();
    let _ = std::io::Read::read_to_end(&mut c, &mut rest);
    let text = String::from_utf8_lossy(&rest);
    assert!(
        rest.is_empty() || text.starts_with("HTTP/1.1 4"),
        "got {text:?}"
    );
    assert!(start.elapsed() < WAIT, "the connection was left hanging");
    // Never completed, never half-closed: closed by the header timeout.
    let mut stalled = tcp(a);
    stalled
        .write_all(b"GET /echo HTTP/1.1\r\nHost: x\r\n")
        .expect("send");
    let mut rest = Vec::new();
    let start = Instant::now();
    let _ = std::io::Read::read_to_end(&mut stalled, &mut rest);
    assert!(
        start.elapsed() < Duration::from_secs(8),
        "a stalled request held its connection for {:?}",
        start.elapsed()
    );
    assert_eq!(ask(&mut ws(s.url(0)), "still serving"), "still serving");
}

// ---------------------------------------------------------------------------
// Shutdown and configuration

#[test]
fn sigterm_sends_close_1001_to_every_client_and_exits_0() {
    let dir = tempdir();
    let mut s = serve_all(&dir, "shutdown_timeout = \"5s\"");
    let mut clients: Vec<Ws> = ["echo", "daytime", "random", "counter", "echo"]
        .iter()
        .map(|svc| ws(url_of(&s, svc)))
        .collect();
    // Make sure every session is up before the signal.
    assert_eq!(ask(&mut clients[0], "up"), "up");
    recv_text(&mut clients[1]);
    ask(&mut clients[2], "");
    ask(&mut clients[3], "");
    assert_eq!(ask(&mut clients[4], "up"), "up");
    let start = Instant::now();
    s.signal(libc::SIGTERM);
    for (i, c) in clients.iter_mut().enumerate() {
        let (code, _) = expect_close(c, WAIT);
        assert_eq!(code, 1001, "client {i}");
    }
    let status = s.wait_exit(WAIT).expect("the server exits");
    assert_eq!(status.code(), Some(0), "{}", s.stderr());
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "shutdown took {:?}",
        start.elapsed()
    );
}

#[test]
fn sigterm_exits_0_within_shutdown_timeout_when_a_client_never_answers_the_close() {
    let mut s = serve_ws("echo", "/echo", &["--shutdown-timeout", "500ms"]);
    let mut raw = raw_ws(addr_of(&s), "/echo");
    raw.write_all(&client_frame(OP_TEXT, b"up")).expect("send");
    assert_eq!(read_frame(&mut raw), Some((0x80 | OP_TEXT, b"up".to_vec())));
    let start = Instant::now();
    s.signal(libc::SIGTERM);
    // The client gets 1001 and never answers it.
    assert_eq!(read_close_code(&mut raw), 1001);
    let status = s.wait_exit(WAIT).expect("the server exits");
    let took = start.elapsed();
    assert_eq!(status.code(), Some(0), "{}", s.stderr());
    assert!(
        took < Duration::from_millis(1500),
        "shutdown took {took:?} with --shutdown-timeout 500ms"
    );
}

#[test]
fn config_mounts_several_services_on_one_port() {
    let dir = tempdir();
    let s = serve_all(&dir, "");
    let ports: Vec<u16> = s.listening.iter().map(|(_, u)| ws_addr(u).port()).collect();
    assert!(ports.iter().all(|&p| p == ports[0]), "{:?}", s.listening);
    let mut echo = ws(url_of(&s, "echo"));
    let mut daytime = ws(url_of(&s, "daytime"));
    let mut random = ws(url_of(&s, "random"));
    let mut counter = ws(url_of(&s, "counter"));
    assert_eq!(ask(&mut echo, "42"), "42");
    assert!(looks_like_rfc3339(&recv_text(&mut daytime)));
    assert_eq!(ask(&mut random, "5 5"), "5");
    assert_eq!(ask(&mut counter, ""), "4");
}

#[test]
fn default_configuration_has_a_websocket_path_for_every_service() {
    let out = run_duplex(&["config"], WAIT);
    assert_eq!(out.code(), Some(0));
    let text = out.stdout_str();
    for path in ["/ws\"", "/daytime\"", "/random\"", "/counter\""] {
        assert!(
            text.contains(&format!("ws://127.0.0.1:8080{path}")),
            "no WebSocket listener for {path} in the default configuration"
        );
    }
}

// ---------------------------------------------------------------------------
// duplex connect ws://

fn connect_cmd(url: &str, extra: &[&str]) -> std::process::Command {
    let mut cmd = duplex();
    cmd.arg("connect").arg(url).args(extra);
    cmd
}

#[test]
fn connect_sends_lines_as_text_messages_and_prints_replies() {
    let srv = RecordingServer::start();
    let out = run_with_input(
        connect_cmd(&srv.url("/"), &[]),
        b"hello\r\nsecond line\n\nno newline",
        WAIT,
    );
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert_eq!(out.stdout_str(), "hello\nsecond line\n\nno newline\n");
    assert!(matches!(srv.next(), Seen::Request(..)));
    for text in ["hello", "second line", "", "no newline"] {
        assert_eq!(srv.next(), Seen::Text(text.into()));
    }
    assert_eq!(srv.next(), Seen::Close(Some(1000)));
}

#[test]
fn connect_binary_sends_binary_messages() {
    let srv = RecordingServer::start();
    let out = run_with_input(
        connect_cmd(&srv.url("/"), &["--binary"]),
        b"one\ntwo\n",
        WAIT,
    );
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert_eq!(out.stdout_str(), "one\ntwo\n");
    assert!(matches!(srv.next(), Seen::Request(..)));
    assert_eq!(srv.next(), Seen::Binary(b"one".to_vec()));
    assert_eq!(srv.next(), Seen::Binary(b"two".to_vec()));
}

#[test]
fn connect_sends_extra_headers_subprotocol_and_query_string() {
    let srv = RecordingServer::start();
    let out = run_with_input(
        connect_cmd(
            &srv.url("/path/x?token=abc&n=1"),
            &[
                "-H",
                "X-Api-Key: s3cret",
                "-H",
                "Origin: http://localhost",
                "--protocol",
                "chat",
            ],
        ),
        b"",
        WAIT,
    );
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    let Seen::Request(target, headers) = srv.next() else {
        panic!("no handshake seen");
    };
    assert_eq!(target, "/path/x?token=abc&n=1");
    let has = |k: &str, v: &str| headers.iter().any(|(hk, hv)| hk == k && hv == v);
    assert!(has("x-api-key", "s3cret"), "{headers:?}");
    assert!(has("origin", "http://localhost"), "{headers:?}");
    assert!(has("sec-websocket-protocol", "chat"), "{headers:?}");
}

#[test]
fn connect_eof_exits_0_within_a_second_when_the_server_never_answers_the_close() {
    let addr = deaf_server(Duration::from_secs(15));
    let mut c = Interactive::spawn(connect_cmd(&format!("ws://{addr}/"), &[]));
    c.write(b"hello\n");
    // Let the handshake complete and the message go out.
    thread::sleep(Duration::from_millis(300));
    let start = Instant::now();
    c.close_stdin();
    let status = c.wait(WAIT).expect("connect exits");
    let took = start.elapsed();
    assert_eq!(status.code(), Some(0), "{}", c.stderr());
    assert!(took < Duration::from_millis(1800), "exit took {took:?}");
}

#[test]
fn connect_ctrl_c_closes_with_1000_and_exits_130() {
    let srv = RecordingServer::start();
    let mut c = Interactive::spawn(connect_cmd(&srv.url("/"), &[]));
    c.write(b"ping\n");
    assert_eq!(c.read_line(WAIT), "ping");
    // SAFETY: kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(c.child.id() as i32, libc::SIGINT) }, 0);
    let status = c.wait(Duration::from_secs(2)).expect("connect exits");
    assert_eq!(status.code(), Some(130), "{}", c.stderr());
    assert!(matches!(srv.next(), Seen::Request(..)));
    assert_eq!(srv.next(), Seen::Text("ping".into()));
    assert_eq!(srv.next(), Seen::Close(Some(1000)));
}

#[test]
fn connect_reports_the_close_code_and_reason_on_stderr() {
    let s = serve_ws("counter", "/counter", &[]);
    let mut c = Interactive::spawn(connect_cmd(s.url(0), &[]));
    c.write(b"\nSTOP\n");
    assert_eq!(c.read_line(WAIT), "1");
    let status = c.wait(WAIT).expect("connect exits when the server closes");
    assert_eq!(status.code(), Some(0), "{}", c.stderr());
    let stderr = c.stderr();
    assert!(stderr.contains("1000 STOP"), "stderr: {stderr}");
}

#[test]
fn connect_to_daytime_prints_the_greeting() {
    let s = serve_ws("daytime", "/daytime", &[]);
    let mut c = Interactive::spawn(connect_cmd(s.url(0), &[]));
    let greeting = c.read_line(WAIT);
    assert!(looks_like_rfc3339(&greeting), "{greeting:?}");
    c.close_stdin();
    let status = c.wait(WAIT).expect("exit");
    assert_eq!(status.code(), Some(0), "{}", c.stderr());
}

#[test]
fn connect_failed_handshake_exits_nonzero_with_the_http_status() {
    let s = serve_ws("echo", "/echo", &[]);
    let out = run(
        connect_cmd(&format!("ws://{}/nothing", addr_of(&s)), &[]),
        WAIT,
    );
    assert_ne!(out.code(), Some(0));
    assert!(out.stderr.contains("404"), "stderr: {}", out.stderr);
    assert_eq!(
        nonempty_lines(&out.stderr).len(),
        1,
        "one clear line: {}",
        out.stderr
    );

    let s = serve_ws("echo", "/echo", &["--max-connections", "1"]);
    let _held = ws(s.url(0));
    let out = run(connect_cmd(s.url(0), &[]), WAIT);
    assert_ne!(out.code(), Some(0));
    assert!(out.stderr.contains("503"), "stderr: {}", out.stderr);
}
