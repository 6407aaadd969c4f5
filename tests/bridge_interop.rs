//! `duplex bridge` between tools nobody here wrote: OpenBSD `nc`, `socat`
//! and Python `websockets` as the clients and as the upstreams, one test
//! for each row of the README's table "duplex as nc, socat, websocat and
//! websockify" that `tests/connect_listen.rs` and
//! `tests/connect_listen_ws.rs` do not cover.

mod bridgeutil;
mod common;
mod connect_peers;
mod tlsutil;

use std::process::Command;

use bridgeutil::*;
use common::*;
use connect_peers::{WsPeer, nc, py_ws_client, socat_server, tool};
use serde_json::{Value, json};
use tlsutil::{make_cert, tls_args};

const LONG: std::time::Duration = std::time::Duration::from_secs(30);

fn with(mut cmd: Command, args: &[&str]) -> Command {
    cmd.args(args);
    cmd
}

fn socat() -> Command {
    tool("socat", "socat")
}

/// `nc -N HOST PORT` with `input`: what came back.
fn nc_through(url: &str, input: &[u8]) -> Vec<u8> {
    let a = socket_addr(url);
    let out = run_with_input(
        with(nc(), &["-N", &a.ip().to_string(), &a.port().to_string()]),
        input,
        LONG,
    );
    assert_eq!(out.code(), Some(0), "nc: {}", out.stderr);
    out.stdout
}

/// `nc -N` through the bridge at `url`: sends `line`, reads its echo, then
/// ends its input and expects nothing more. The echo is read before the
/// end: at a close, Python `websockets` answers at once and drops what it
/// had still to send, as RFC 6455 allows.
fn nc_echo_then_end(url: &str, line: &str) {
    let a = socket_addr(url);
    let mut client = Interactive::spawn(with(
        nc(),
        &["-N", &a.ip().to_string(), &a.port().to_string()],
    ));
    client.write(format!("{line}\n").as_bytes());
    assert_eq!(client.read_line(WAIT), line);
    client.close_stdin();
    assert_eq!(client.read_to_end(WAIT), b"");
}

/// README: `socat TCP-LISTEN:8000,fork TCP:127.0.0.1:80`.
#[test]
fn tcp_to_tcp_between_nc_and_a_socat_upstream() {
    let (_up, port) = socat_server("TCP-LISTEN:0,bind=127.0.0.1", "cat");
    let b = bridge("tcp://127.0.0.1:0", &format!("tcp://127.0.0.1:{port}"), &[]);
    let data = binary(1 << 20);
    let back = nc_through(bridge_url(&b), &data);
    assert!(back == data, "{} bytes came back, differing", back.len());
}

/// README: `socat UNIX-LISTEN:/tmp/app.sock,fork TCP:127.0.0.1:80`.
#[test]
fn unix_to_tcp_with_socat_at_both_ends() {
    let dir = tempdir();
    let (_up, port) = socat_server("TCP-LISTEN:0,bind=127.0.0.1", "cat");
    let from = unix_url(dir.path(), "app.sock");
    let b = bridge(&from, &format!("tcp://127.0.0.1:{port}"), &[]);
    let path = bridge_url(&b).trim_start_matches("unix://").to_string();
    let out = run_with_input(
        with(socat(), &["-t", "5", "-", &format!("UNIX-CONNECT:{path}")]),
        b"through a unix socket\n",
        LONG,
    );
    assert_eq!(
        out.stdout_str(),
        "through a unix socket\n",
        "{}",
        out.stderr
    );
}

/// README: `socat TCP-LISTEN:80,fork UNIX-CONNECT:/run/app.sock`.
#[test]
fn tcp_to_unix_between_nc_and_a_socat_upstream() {
    let dir = tempdir();
    let sock = dir.path().join("up.sock");
    let (_up, _) = socat_server(&format!("UNIX-LISTEN:{}", sock.display()), "cat");
    let b = bridge(
        "tcp://127.0.0.1:0",
        &format!("unix://{}", sock.display()),
        &[],
    );
    assert_eq!(
        nc_through(bridge_url(&b), b"to a unix upstream\n"),
        b"to a unix upstream\n"
    );
}

/// README: `socat OPENSSL-LISTEN:8443,cert=…,fork TCP:127.0.0.1:80` (TLS
/// in front of a plain service).
#[test]
fn tls_to_tcp_with_a_socat_openssl_client() {
    let dir = tempdir();
    let cert = make_cert(dir.path());
    let (_up, port) = socat_server("TCP-LISTEN:0,bind=127.0.0.1", "cat");
    let tls = tls_args(&cert);
    let extra: Vec<&str> = tls.iter().map(String::as_str).collect();
    let b = bridge(
        "tls://127.0.0.1:0",
        &format!("tcp://127.0.0.1:{port}"),
        &extra,
    );
    let target = format!(
        "OPENSSL:127.0.0.1:{},cafile={},commonname=localhost",
        socket_addr(bridge_url(&b)).port(),
        cert.cert.display()
    );
    let out = run_with_input(
        with(socat(), &["-t", "5", "-", &target]),
        b"over TLS\n",
        LONG,
    );
    assert_eq!(out.stdout_str(), "over TLS\n", "{}", out.stderr);
}

/// README: `socat TCP-LISTEN:5000,fork OPENSSL:example.org:443` (a plain
/// client reaches a TLS service).
#[test]
fn tcp_to_tls_between_nc_and_a_socat_openssl_upstream() {
    let dir = tempdir();
    let cert = make_cert(dir.path());
    let listen = format!(
        "OPENSSL-LISTEN:0,bind=127.0.0.1,cert={},key={},verify=0",
        cert.cert.display(),
        cert.key.display()
    );
    let (_up, port) = socat_server(&listen, "cat");
    let ca = cert.cert.display().to_string();
    let b = bridge(
        "tcp://127.0.0.1:0",
        &format!("tls://localhost:{port}"),
        &["--ca", &ca],
    );
    assert_eq!(
        nc_through(bridge_url(&b), b"to a TLS upstream\n"),
        b"to a TLS upstream\n"
    );
}

/// README: `socat UDP-LISTEN:5353,fork UDP:192.0.2.1:53`.
#[test]
fn udp_to_udp_between_nc_and_a_socat_upstream() {
    let (_up, port) = {
        let p = closed_port();
        let mut cmd = socat();
        cmd.args([
            "-d",
            "-d",
            &format!("UDP-RECVFROM:{p},bind=127.0.0.1,fork"),
            "PIPE",
        ]);
        let up = Interactive::spawn(cmd);
        let ready = eventually(WAIT, || up.stderr().contains("receiving on"));
        assert!(ready, "socat did not listen: {}", up.stderr());
        (up, p)
    };
    let b = bridge("udp://127.0.0.1:0", &format!("udp://127.0.0.1:{port}"), &[]);
    let a = socket_addr(bridge_url(&b));
    let mut client = Interactive::spawn(with(
        nc(),
        &["-u", &a.ip().to_string(), &a.port().to_string()],
    ));
    for line in ["one", "two"] {
        client.write(format!("{line}\n").as_bytes());
        assert_eq!(client.read_line(WAIT), line);
    }
}

/// tests/py/ws_client.py against `url` with `steps` (and `env`): what it
/// reported, one JSON value per line, after the handshake's.
fn py_client(url: &str, steps: Value, env: &[(&str, &str)]) -> Vec<Value> {
    py_ws_client(url, &[], env, &steps).1
}

fn binary_hex(hex: &str) -> Value {
    json!({"type": "binary", "data": hex})
}

/// The Python client's exchange with a bridge in front of a TCP echo:
/// text and binary go as bytes and come back as binary messages.
fn websockify_exchange(url: &str, env: &[(&str, &str)]) {
    let steps = json!([
        {"send": "hello"}, {"recv": 1},
        {"send_hex": "00ff10"}, {"recv": 1},
        {"close": true}
    ]);
    let seen = py_client(url, steps, env);
    assert_eq!(
        seen,
        [
            binary_hex("68656c6c6f"),
            binary_hex("00ff10"),
            json!({"close": 1000, "reason": ""})
        ]
    );
}

/// README: `websockify 8080 127.0.0.1:5900` and
/// `websocat -b ws-l:127.0.0.1:8080 tcp:127.0.0.1:5900`.
#[test]
fn ws_to_tcp_between_python_websockets_and_a_socat_upstream() {
    let (_up, port) = socat_server("TCP-LISTEN:0,bind=127.0.0.1,fork", "cat");
    let b = bridge("ws://127.0.0.1:0/", &format!("tcp://127.0.0.1:{port}"), &[]);
    websockify_exchange(&format!("{}websockify", bridge_url(&b)), &[]);
}

/// README: `websockify --cert c.pem --key k.pem 8443 127.0.0.1:5900`.
#[test]
fn wss_to_tcp_between_python_websockets_and_a_socat_upstream() {
    let dir = tempdir();
    let cert = make_cert(dir.path());
    let tls = tls_args(&cert);
    let mut extra: Vec<&str> = tls.iter().map(String::as_str).collect();
    extra.push("--text");
    let (_up, port) = socat_server("TCP-LISTEN:0,bind=127.0.0.1,fork", "cat");
    let b = bridge(
        "wss://127.0.0.1:0/",
        &format!("tcp://127.0.0.1:{port}"),
        &extra[..4],
    );
    // Python's default TLS context trusts the file SSL_CERT_FILE names.
    let ca = cert.cert.display().to_string();
    let url = bridge_url(&b).replace("127.0.0.1", "localhost");
    websockify_exchange(&url, &[("SSL_CERT_FILE", &ca)]);
    // --text: bytes that are UTF-8 come back as text messages.
    let b = bridge(
        "wss://127.0.0.1:0/",
        &format!("tcp://127.0.0.1:{port}"),
        &extra,
    );
    let url = bridge_url(&b).replace("127.0.0.1", "localhost");
    let steps = json!([{"send": "héllo"}, {"recv": 1}, {"close": true}]);
    let seen = py_client(&url, steps, &[("SSL_CERT_FILE", &ca)]);
    assert_eq!(seen[0], json!({"type": "text", "data": "héllo"}));
}

/// README: `websocat -b tcp-l:127.0.0.1:2222 ws://127.0.0.1:9000/`.
#[test]
fn tcp_to_ws_between_nc_and_a_python_websockets_upstream() {
    let mut up = WsPeer::echo();
    let b = bridge("tcp://127.0.0.1:0", &up.url("/ssh"), &[]);
    nc_echo_then_end(bridge_url(&b), "over a websocket");
    let request = up.next();
    assert_eq!(request["request"], "/ssh", "{request}");
    assert_eq!(up.next(), binary_hex("6f766572206120776562736f636b65740a"));
    assert_eq!(up.close_event()["close"], 1000);
}

/// A plain client reaches a wss:// service that is not duplex: Python
/// `websockets` over TLS, its certificate checked against `--ca`.
#[test]
fn tcp_to_wss_between_nc_and_a_python_websockets_tls_upstream() {
    let dir = tempdir();
    let cert = make_cert(dir.path());
    let (cert_path, key_path) = cert.paths();
    let mut up = WsPeer::echo_with(&["30", "--tls", &cert_path, &key_path]);
    let to = format!("wss://localhost:{}/secure", up.port);
    let b = bridge("tcp://127.0.0.1:0", &to, &["--ca", &cert_path]);
    nc_echo_then_end(bridge_url(&b), "over wss");
    let request = up.next();
    assert_eq!(request["request"], "/secure", "{request}");
    assert_eq!(up.next(), binary_hex("6f766572207773730a"));
    assert_eq!(up.close_event()["close"], 1000);
}

/// README: `websocat ws-l:127.0.0.1:8080 ws://127.0.0.1:9000/`.
#[test]
fn ws_to_ws_between_python_websockets_at_both_ends() {
    let mut up = WsPeer::echo();
    let b = bridge("ws://127.0.0.1:0/", &up.url("/app"), &[]);
    let steps = json!([
        {"send": "text stays text"}, {"recv": 1},
        {"send_hex": "0001"}, {"recv": 1},
        {"close": true}
    ]);
    let seen = py_client(&format!("{}app", bridge_url(&b)), steps, &[]);
    assert_eq!(
        seen,
        [
            json!({"type": "text", "data": "text stays text"}),
            binary_hex("0001"),
            json!({"close": 1000, "reason": ""})
        ]
    );
    assert_eq!(up.next()["request"], "/app");
    assert_eq!(
        up.next(),
        json!({"type": "text", "data": "text stays text"})
    );
    assert_eq!(up.next(), binary_hex("0001"));
    assert_eq!(up.close_event()["close"], 1000);
}
