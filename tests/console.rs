//! The web console in a real headless Chromium (Debian's `chromium`, which
//! `scripts/test.sh` installs), driven over the DevTools protocol: open the
//! console, pick a service, type a request, press Enter and see the reply on
//! the page. A screenshot is kept in `test-artifacts/console.png`.

mod browser;
mod common;
mod wsutil;

use std::path::PathBuf;

use browser::Browser;
use common::*;
use serde_json::{Value, json};
use wsutil::*;

/// What the console's tests ask of the page beyond [`Browser`]'s own.
trait Console {
    /// Waits until `expr` is true in the page; a failure quotes the
    /// console's log.
    fn wait_for(&mut self, expr: &str, what: &str);
    /// Opens the console at `url` and waits for its service buttons.
    fn open_console(&mut self, url: &str);
}

impl Console for Browser {
    fn wait_for(&mut self, expr: &str, what: &str) {
        self.wait_until(expr, what, "document.getElementById('log').innerText");
    }

    fn open_console(&mut self, url: &str) {
        self.open(url);
        self.wait_for(
            "document.querySelectorAll('nav button').length > 0",
            "the console page",
        );
    }
}

fn artifacts() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("test-artifacts")
}

/// Every service on its own path of one port.
fn serve_all(dir: &tempfile::TempDir) -> Server {
    let config = dir.path().join("duplex.toml");
    let mut toml = String::new();
    for (svc, path) in [
        ("echo", "/ws"),
        ("daytime", "/daytime"),
        ("random", "/random"),
        ("counter", "/counter"),
    ] {
        toml.push_str(&format!(
            "[[listener]]\nservice = \"{svc}\"\nurls = [\"ws://127.0.0.1:0{path}\"]\n"
        ));
    }
    std::fs::write(&config, toml).expect("write the configuration");
    Server::start(&["serve", "--config", config.to_str().expect("utf-8")], 4)
}

fn console_url(s: &Server) -> String {
    format!("http://{}/", ws_addr(s.url(0)))
}

/// JavaScript: the texts of the log rows of `kind` (`in`, `out`, `sys`).
fn rows(kind: &str) -> String {
    format!("[...document.querySelectorAll('.row.{kind} .msg')].map(e => e.textContent)")
}

#[test]
fn console_sends_a_typed_message_to_echo_and_shows_the_reply() {
    let dir = tempdir();
    let s = serve_all(&dir);
    let mut b = Browser::launch();
    b.open_console(&console_url(&s));
    let paths = b.eval("[...document.querySelectorAll('nav button')].map(b => b.dataset.path)");
    assert_eq!(paths, json!(["/counter", "/daytime", "/random", "/ws"]));

    b.eval("document.querySelector('nav button[data-path=\"/ws\"]').click()");
    b.wait_for(
        "document.getElementById('status').classList.contains('open')",
        "the connection to /ws",
    );
    b.wait_for(
        "document.activeElement === document.getElementById('message')",
        "focus on the message input",
    );
    b.type_and_enter("hello from chromium");
    b.wait_for(
        &format!("{}.includes('hello from chromium')", rows("in")),
        "the echoed reply",
    );
    assert_eq!(b.eval(&rows("out")), json!(["hello from chromium"]));
    assert_eq!(
        b.eval("document.getElementById('message').value"),
        json!("")
    );
    // Each row has a timestamp.
    let stamp = b.eval("document.querySelector('.row.in time').textContent");
    let stamp = stamp.as_str().expect("a timestamp");
    assert!(
        stamp.len() >= 8 && stamp.as_bytes()[2] == b':',
        "timestamp {stamp:?}"
    );
    b.type_and_enter("second message");
    b.wait_for(
        &format!("{}.includes('second message')", rows("in")),
        "the second reply",
    );
    b.screenshot(&artifacts().join("console.png"));
}

#[test]
fn console_shows_the_close_code_and_reconnects_on_demand() {
    let dir = tempdir();
    let s = serve_all(&dir);
    let mut b = Browser::launch();
    b.open_console(&console_url(&s));
    b.eval("document.querySelector('nav button[data-path=\"/counter\"]').click()");
    b.wait_for(
        "document.getElementById('status').classList.contains('open')",
        "the connection to /counter",
    );
    b.type_and_enter("");
    b.eval("document.getElementById('message').focus()");
    b.type_and_enter("STOP");
    b.wait_for(
        &format!(
            "{}.some(t => t.includes('1000') && t.includes('STOP'))",
            rows("sys")
        ),
        "the close code and reason",
    );
    b.wait_for(
        "!document.getElementById('status').classList.contains('open') && !document.getElementById('connect').disabled",
        "the disconnected state",
    );
    b.eval("document.getElementById('connect').click()");
    b.wait_for(
        "document.getElementById('status').classList.contains('open')",
        "the reconnection",
    );
    b.type_and_enter("x");
    b.wait_for(
        &format!("{}.length >= 2", rows("in")),
        "a counter reply after reconnecting",
    );
    let counts = b.eval(&rows("in"));
    let counts: Vec<u64> = counts
        .as_array()
        .expect("rows")
        .iter()
        .map(|v| v.as_str().and_then(|s| s.parse().ok()).expect("a count"))
        .collect();
    assert!(counts[1] > counts[0], "counts {counts:?}");
    b.screenshot(&artifacts().join("console-closed.png"));
}

/// Connects the console to echo at `/ws` and returns the server's answer to
/// the handshake, as the browser received it.
fn handshake_answer(b: &mut Browser, s: &Server) -> Value {
    b.call("Network.enable", json!({}));
    b.open_console(&console_url(s));
    b.eval("document.querySelector('nav button[data-path=\"/ws\"]').click()");
    b.wait_for(
        "document.getElementById('status').classList.contains('open')",
        "the connection to /ws",
    );
    b.event("Network.webSocketHandshakeResponseReceived")["response"].clone()
}

/// A response header by name, whatever its case.
fn header(response: &Value, name: &str) -> Option<String> {
    response["headers"].as_object().and_then(|h| {
        h.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_str().map(String::from))
    })
}

#[test]
fn console_negotiates_compression_and_shows_it() {
    let dir = tempdir();
    let s = serve_all(&dir);
    let mut b = Browser::launch();
    let answer = handshake_answer(&mut b, &s);
    assert_eq!(answer["status"], 101, "{answer}");
    let agreed = header(&answer, "sec-websocket-extensions").unwrap_or_default();
    assert!(
        agreed.starts_with("permessage-deflate")
            && agreed.contains("server_no_context_takeover")
            && agreed.contains("client_no_context_takeover"),
        "Sec-WebSocket-Extensions: {agreed:?} ({answer})"
    );
    // Chromium offers the extension; what it agreed to is what the page
    // shows.
    let request = b.event("Network.webSocketWillSendHandshakeRequest")["request"].clone();
    let offer = header(&request, "sec-websocket-extensions").unwrap_or_default();
    assert!(offer.contains("permessage-deflate"), "offer: {offer:?}");
    assert_eq!(b.eval("ws.extensions"), json!(agreed));
    let status = b.eval("document.getElementById('status').textContent");
    assert!(
        status
            .as_str()
            .is_some_and(|t| t.contains("compressed") && !t.contains("uncompressed")),
        "status: {status}"
    );
    assert!(
        b.eval(&format!(
            "{}.some(t => t.includes('compression agreed: permessage-deflate'))",
            rows("sys")
        )) == json!(true),
        "the log names the agreed extension"
    );
    // Messages go through compressed, both ways, large ones too.
    let big = "duplex ".repeat(2000);
    b.eval("document.getElementById('message').focus()");
    b.type_and_enter(&big);
    b.wait_for(
        &format!("{}.includes({})", rows("in"), json!(big)),
        "the compressed echo",
    );
    b.screenshot(&artifacts().join("console-compressed.png"));
}

#[test]
fn console_shows_an_uncompressed_session_when_compression_is_off() {
    let dir = tempdir();
    let config = dir.path().join("duplex.toml");
    std::fs::write(
        &config,
        "[websocket]\ncompression = \"off\"\n[[listener]]\nservice = \"echo\"\nurls = [\"ws://127.0.0.1:0/ws\"]\n",
    )
    .expect("write the configuration");
    let s = Server::start(&["serve", "--config", config.to_str().expect("utf-8")], 1);
    let mut b = Browser::launch();
    let answer = handshake_answer(&mut b, &s);
    assert_eq!(
        header(&answer, "sec-websocket-extensions"),
        None,
        "{answer}"
    );
    let status = b.eval("document.getElementById('status').textContent");
    assert!(
        status.as_str().is_some_and(|t| t.contains("uncompressed")),
        "status: {status}"
    );
    b.type_and_enter("plain");
    b.wait_for(&format!("{}.includes('plain')", rows("in")), "the echo");
}
