//! Metrics (`/metrics`, `--metrics`), the WebSocket origin policy and the
//! per-session log line, over real sockets.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::{Conn, Server, WAIT, socket_addr};

/// Sends one raw HTTP/1.1 request and returns the whole response.
fn http(addr: SocketAddr, request: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(WAIT)).expect("timeout");
    s.write_all(request.as_bytes()).expect("write");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn get(addr: SocketAddr, path: &str) -> String {
    http(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"),
    )
}

/// A WebSocket handshake request with an optional Origin header.
fn handshake(addr: SocketAddr, path: &str, origin: Option<&str>) -> String {
    let origin = origin
        .map(|o| format!("Origin: {o}\r\n"))
        .unwrap_or_default();
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{origin}\r\n"
    );
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(WAIT)).expect("timeout");
    s.write_all(req.as_bytes()).expect("write");
    let mut buf = [0u8; 1024];
    let n = s.read(&mut buf).unwrap_or(0);
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// The address of a `ws://HOST:PORT/PATH` URL.
fn ws_addr(url: &str) -> SocketAddr {
    let rest = url.strip_prefix("ws://").unwrap_or(url);
    let authority = rest.split('/').next().unwrap_or(rest);
    authority.parse().unwrap_or_else(|e| panic!("{url}: {e}"))
}

fn status_line(response: &str) -> &str {
    response.lines().next().unwrap_or("")
}

/// The value of one metric sample line, e.g.
/// `duplex_bytes_received_total{service="echo",transport="tcp"}`.
fn sample(metrics: &str, name_and_labels: &str) -> Option<u64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name_and_labels)?.trim().parse().ok())
}

/// Polls `/metrics` until it answers 200 and `pred` holds (counters are
/// updated as sessions close, which may be a moment after the client sees
/// EOF; and with `--max-connections 1` the previous scrape's connection may
/// still hold the one HTTP slot for a moment after its EOF, which a busy
/// machine stretches).
fn metrics_until(addr: SocketAddr, pred: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let m = get(addr, "/metrics");
        if (status_line(&m).contains("200") && pred(&m)) || Instant::now() > deadline {
            return m;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn metrics_listener_serves_prometheus_counters_per_service_and_transport() {
    let server = Server::start(
        &[
            "serve",
            "echo",
            "tcp://127.0.0.1:0",
            "--metrics",
            "tcp://127.0.0.1:0",
            "--max-connections",
            "1",
        ],
        2,
    );
    assert_eq!(server.listening[0].0, "metrics", "{:?}", server.listening);
    let metrics_addr = socket_addr(server.url(0));
    let echo_addr = server.addr(1);

    let mut c = Conn::tcp(echo_addr);
    c.send(b"hello\n");
    assert_eq!(c.read_line(), "hello");
    // A second client is refused by --max-connections and counted.
    let mut refused = Conn::tcp(echo_addr);
    assert!(refused.read_line().starts_with("ERR server busy"));
    drop(c);

    let tcp = "{service=\"echo\",transport=\"tcp\"}";
    let m = metrics_until(metrics_addr, |m| {
        sample(m, &format!("duplex_connections_active{tcp}")) == Some(0)
            && sample(m, &format!("duplex_connections_refused_total{tcp}")) == Some(1)
    });
    assert!(status_line(&m).contains("200"), "{m}");
    assert!(
        m.contains("# TYPE duplex_bytes_received_total counter"),
        "{m}"
    );
    assert_eq!(
        sample(&m, &format!("duplex_connections_accepted_total{tcp}")),
        Some(1),
        "{m}"
    );
    assert_eq!(
        sample(&m, &format!("duplex_connections_active{tcp}")),
        Some(0),
        "{m}"
    );
    assert_eq!(
        sample(&m, &format!("duplex_connections_refused_total{tcp}")),
        Some(1),
        "{m}"
    );
    assert_eq!(
        sample(&m, &format!("duplex_bytes_received_total{tcp}")),
        Some(6),
        "{m}"
    );
    assert_eq!(
        sample(&m, &format!("duplex_bytes_sent_total{tcp}")),
        Some(6),
        "{m}"
    );
    assert_eq!(
        sample(
            &m,
            "duplex_limit_hits_total{limit=\"max_connections\",service=\"echo\",transport=\"tcp\"}"
        ),
        Some(1),
        "{m}"
    );
}

#[test]
fn metrics_count_requests_and_limit_hits_of_line_services() {
    let server = Server::start(
        &[
            "serve",
            "random",
            "tcp://127.0.0.1:0",
            "--metrics",
            "tcp://127.0.0.1:0",
            "--max-line",
            "8",
        ],
        2,
    );
    let metrics_addr = socket_addr(server.url(0));
    let mut c = Conn::tcp(server.addr(1));
    c.send_line("1 1");
    assert_eq!(c.read_line(), "1");
    c.send_line("this line is far too long");
    assert!(c.read_line().starts_with("ERR"));
    let labels = "service=\"random\",transport=\"tcp\"}";
    let m = metrics_until(metrics_addr, |m| {
        sample(m, &format!("duplex_requests_total{{{labels}")) == Some(1)
    });
    assert_eq!(
        sample(&m, &format!("duplex_requests_total{{{labels}")),
        Some(1),
        "{m}"
    );
    assert_eq!(
        sample(
            &m,
            &format!("duplex_limit_hits_total{{limit=\"max_line\",{labels}")
        ),
        Some(1),
        "{m}"
    );
}

#[test]
fn websocket_listeners_answer_metrics_too() {
    let server = Server::serve("echo", &["ws://127.0.0.1:0/ws"], &[]);
    let addr = ws_addr(server.url(0));
    let response = get(addr, "/metrics");
    assert!(status_line(&response).contains("200"), "{response}");
    assert!(response.contains("text/plain; version=0.0.4"), "{response}");
    assert!(
        response.contains("duplex_connections_accepted_total{service=\"echo\",transport=\"ws\"} 0"),
        "{response}"
    );
}

#[test]
fn metrics_flag_rejects_a_non_tcp_url() {
    let out = common::run_duplex(
        &[
            "serve",
            "echo",
            "tcp://127.0.0.1:0",
            "--metrics",
            "udp://127.0.0.1:0",
        ],
        WAIT,
    );
    assert_eq!(out.code(), Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains("--metrics takes a tcp:// address"),
        "{}",
        out.stderr
    );
}

#[test]
fn browser_handshake_from_another_site_is_refused_with_403_and_logged() {
    let server = Server::serve("echo", &["ws://127.0.0.1:0/ws"], &[]);
    let addr = ws_addr(server.url(0));
    let r = handshake(addr, "/ws", Some("https://evil.example"));
    assert!(status_line(&r).contains("403"), "{r}");
    let deadline = Instant::now() + WAIT;
    while !server.stderr().contains("another origin") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        server.stderr().contains("evil.example"),
        "{}",
        server.stderr()
    );
}

#[test]
fn same_origin_loopback_pages_and_clients_without_origin_are_accepted_by_default() {
    let server = Server::serve("echo", &["ws://127.0.0.1:0/ws"], &[]);
    let addr = ws_addr(server.url(0));
    for origin in [
        None,
        Some(format!("http://{addr}")),
        Some("http://localhost:3000".to_string()),
    ] {
        let r = handshake(addr, "/ws", origin.as_deref());
        assert!(status_line(&r).contains("101"), "{origin:?}: {r}");
    }
}

#[test]
fn allowed_origin_list_accepts_listed_and_wildcard_origins_only() {
    let server = Server::serve(
        "echo",
        &["ws://127.0.0.1:0/ws"],
        &[
            "--allowed-origin",
            "*.example.com",
            "--allowed-origin",
            "https://app.test",
        ],
    );
    let addr = ws_addr(server.url(0));
    for (origin, status) in [
        ("https://a.example.com", "101"),
        ("https://app.test", "101"),
        ("http://app.test", "403"),
        ("https://example.com.evil.test", "403"),
        ("http://localhost:3000", "403"),
    ] {
        let r = handshake(addr, "/ws", Some(origin));
        assert!(status_line(&r).contains(status), "{origin}: {r}");
    }
}

#[test]
fn each_session_ends_with_one_info_log_line() {
    let server = Server::serve("echo", &["tcp://127.0.0.1:0"], &["--log-format", "json"]);
    let mut c = Conn::tcp(server.addr(0));
    c.send(b"abc\n");
    assert_eq!(c.read_line(), "abc");
    drop(c);
    let deadline = Instant::now() + WAIT;
    while !server.stderr().contains("session closed") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let stderr = server.stderr();
    let line = stderr
        .lines()
        .find(|l| l.contains("session closed"))
        .unwrap_or_else(|| panic!("no session log line in {stderr}"));
    let v: serde_json::Value = serde_json::from_str(line).expect("JSON log line");
    assert_eq!(v["level"], "INFO", "{line}");
    let f = &v["fields"];
    assert_eq!(f["transport"], "tcp", "{line}");
    assert_eq!(f["service"], "echo", "{line}");
    assert_eq!(f["bytes_in"], 4, "{line}");
    assert_eq!(f["bytes_out"], 4, "{line}");
    assert_eq!(f["reason"], "client closed", "{line}");
    assert!(
        f["peer"]
            .as_str()
            .is_some_and(|p| p.starts_with("127.0.0.1:")),
        "{line}"
    );
    assert!(f["duration_ms"].is_u64(), "{line}");
}

/// Sends a raw request and returns the status line of the answer.
fn raw_status(addr: SocketAddr, request: &str) -> String {
    let r = http(addr, request);
    status_line(&r).to_string()
}

#[test]
fn upgrade_with_an_invalid_key_or_http_1_0_gets_400() {
    let server = Server::serve("echo", &["ws://127.0.0.1:0/ws"], &[]);
    let addr = ws_addr(server.url(0));
    let req = |version: &str, key: &str| {
        format!(
            "GET /ws HTTP/{version}\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\nConnection: close\r\n\r\n"
        )
    };
    for key in [
        "",
        "short",
        "dGhlIHNhbXBsZSBub25jZQ",
        "dGhlIHNhbXBsZSBub25jZQ=!",
        "!GhlIHNhbXBsZSBub25jZQ==",
    ] {
        let status = raw_status(addr, &req("1.1", key));
        assert!(status.contains("400"), "key {key:?}: {status}");
    }
    let status = raw_status(addr, &req("1.0", "dGhlIHNhbXBsZSBub25jZQ=="));
    assert!(status.contains("400"), "HTTP/1.0: {status}");
    // The server still upgrades a valid request afterwards.
    let r = handshake(addr, "/ws", None);
    assert!(status_line(&r).contains("101"), "{r}");
}

/// Python `websockets` (a real peer, in the project's `.venv`) connecting
/// with an `Origin` header, as a browser would; prints `open` or the HTTP
/// status of the refusal.
fn python_ws_with_origin(url: &str, origin: &str) -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let py = root.join(".venv/bin/python");
    assert!(
        py.exists(),
        "Python websockets is not installed in .venv: run scripts/test.sh"
    );
    let script = r#"
import asyncio, sys
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus
async def main(url, origin):
    try:
        async with connect(url, origin=origin, open_timeout=10) as ws:
            await ws.send("hi")
            print("open", await asyncio.wait_for(ws.recv(), 10))
    except InvalidStatus as e:
        print("refused", e.response.status_code)
asyncio.run(main(sys.argv[1], sys.argv[2]))
"#;
    let mut cmd = std::process::Command::new(py);
    cmd.args(["-c", script, url, origin]);
    let out = common::run(cmd, WAIT);
    assert_eq!(out.code(), Some(0), "python failed: {}", out.stderr);
    out.stdout_str().trim().to_string()
}

#[test]
fn python_websockets_client_is_held_to_the_origin_policy() {
    let server = Server::serve(
        "echo",
        &["ws://127.0.0.1:0/ws"],
        &["--allowed-origin", "https://app.example.com"],
    );
    let url = server.url(0).to_string();
    assert_eq!(
        python_ws_with_origin(&url, "https://evil.example"),
        "refused 403"
    );
    assert_eq!(
        python_ws_with_origin(&url, "https://app.example.com"),
        "open hi"
    );
}

#[test]
fn plain_http_connections_are_limited_by_max_connections_too() {
    let server = Server::serve(
        "echo",
        &["ws://127.0.0.1:0/ws"],
        &["--max-connections", "1"],
    );
    let addr = ws_addr(server.url(0));
    // One keep-alive HTTP connection holds the only HTTP slot…
    let mut held = TcpStream::connect(addr).expect("connect");
    held.set_read_timeout(Some(WAIT)).expect("timeout");
    held.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .expect("write");
    let mut buf = [0u8; 512];
    let n = held.read(&mut buf).expect("healthz answer");
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    // …so the next connection is answered 503 and closed at once.
    let r = get(addr, "/healthz");
    assert!(status_line(&r).contains("503"), "{r}");
    // When it is released, HTTP is served again.
    drop(held);
    let deadline = Instant::now() + WAIT;
    loop {
        let r = get(addr, "/healthz");
        if status_line(&r).contains("200") {
            break;
        }
        assert!(Instant::now() < deadline, "still refused: {r}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_client_that_never_starts_tls_is_closed_after_the_handshake_timeout_and_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = common::run_duplex(
        &[
            "cert",
            "--out",
            &dir.path().display().to_string(),
            "--host",
            "localhost",
        ],
        WAIT,
    );
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    let cert = dir.path().join("cert.pem").display().to_string();
    let key = dir.path().join("key.pem").display().to_string();
    let server = Server::start(
        &[
            "serve",
            "echo",
            "tls://127.0.0.1:0",
            "--metrics",
            "tcp://127.0.0.1:0",
            "--tls-cert",
            &cert,
            "--tls-key",
            &key,
        ],
        2,
    );
    let metrics_addr = socket_addr(server.url(0));
    let tls_addr = socket_addr(&server.url(1).replace("tls://", "tcp://"));
    let mut s = TcpStream::connect(tls_addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(15)))
        .expect("timeout");
    let start = Instant::now();
    let mut buf = [0u8; 16];
    let n = s.read(&mut buf).unwrap_or(0);
    let waited = start.elapsed();
    assert_eq!(n, 0, "expected the server to close the silent connection");
    assert!(
        waited >= Duration::from_secs(9) && waited < Duration::from_secs(14),
        "closed after {waited:?}, the TLS handshake timeout is 10 s"
    );
    let m = metrics_until(metrics_addr, |m| {
        sample(m, "duplex_tls_handshake_failures_total") == Some(1)
    });
    assert_eq!(
        sample(&m, "duplex_tls_handshake_failures_total"),
        Some(1),
        "{m}"
    );
}
