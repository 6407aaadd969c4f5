//! The web console in a real headless Chromium (Debian's `chromium`, which
//! `scripts/test.sh` installs), driven over the DevTools protocol: open the
//! console, pick a service, type a request, press Enter and see the reply on
//! the page. A screenshot is kept in `test-artifacts/console.png`.

mod common;
mod wsutil;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use wsutil::*;

const CHROMIUM: &str = "/usr/bin/chromium";

/// A headless Chromium with one page, driven over the DevTools protocol.
/// Killed when dropped.
struct Browser {
    process: Interactive,
    page: Ws,
    next_id: u64,
    /// DevTools events seen while waiting for answers (`Network.*` once
    /// enabled), oldest first.
    events: Vec<Value>,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn launch() -> Browser {
        assert!(
            Path::new(CHROMIUM).exists(),
            "{CHROMIUM} is missing: run scripts/test.sh (apt-get install -y chromium)"
        );
        let profile = tempdir();
        let mut cmd = Command::new(CHROMIUM);
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--remote-debugging-port=0",
            "--window-size=1100,640",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("about:blank");
        let process = Interactive::spawn(cmd);
        // Chromium announces `DevTools listening on ws://127.0.0.1:PORT/…`.
        let mut port = None;
        let up = eventually(Duration::from_secs(30), || {
            port = process.stderr().lines().find_map(|l| {
                let url = l.split("DevTools listening on ").nth(1)?;
                Some(ws_addr(url.trim()).port())
            });
            port.is_some()
        });
        assert!(up, "Chromium did not start: {}", process.stderr());
        let devtools: std::net::SocketAddr = format!("127.0.0.1:{}", port.expect("port"))
            .parse()
            .expect("addr");
        let list = http(devtools, "GET", "/json/list");
        let targets: Value = serde_json::from_str(&list.body).expect("JSON target list");
        let page_url = targets
            .as_array()
            .and_then(|t| t.iter().find(|t| t["type"] == "page"))
            .and_then(|t| t["webSocketDebuggerUrl"].as_str())
            .unwrap_or_else(|| panic!("no page target: {targets}"))
            .to_string();
        Browser {
            process,
            page: ws(&page_url),
            next_id: 0,
            events: Vec::new(),
            _profile: profile,
        }
    }

    /// Calls a DevTools method and returns its result.
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let msg = json!({"id": id, "method": method, "params": params});
        self.page
            .send(Message::text(msg.to_string()))
            .expect("send a DevTools command");
        loop {
            let Message::Text(t) = recv(&mut self.page) else {
                continue;
            };
            let v: Value = serde_json::from_str(&t).expect("DevTools JSON");
            if v["method"].is_string() {
                self.events.push(v);
                continue;
            }
            if v["id"] == id {
                if !v["error"].is_null() {
                    panic!("{method} failed: {}", v["error"]);
                }
                return v["result"].clone();
            }
        }
    }

    /// Evaluates a JavaScript expression in the page and returns its value.
    fn eval(&mut self, expr: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": expr, "returnByValue": true}),
        );
        if !r["exceptionDetails"].is_null() {
            panic!("{expr} threw: {}", r["exceptionDetails"]);
        }
        r["result"]["value"].clone()
    }

    /// Waits until `expr` is true in the page.
    fn wait_for(&mut self, expr: &str, what: &str) {
        let deadline = Instant::now() + WAIT;
        while self.eval(expr) != json!(true) {
            if Instant::now() >= deadline {
                let log = self.eval("document.getElementById('log').innerText");
                panic!("{what}: not seen within {WAIT:?}; the console log says: {log}");
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// The parameters of the first DevTools event named `method` (waiting
    /// for it at most [`WAIT`]).
    fn event(&mut self, method: &str) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(e) = self.events.iter().find(|e| e["method"] == method) {
                return e["params"].clone();
            }
            assert!(
                Instant::now() < deadline,
                "no {method} event within {WAIT:?}"
            );
            // Any call reads the events that came before its answer.
            self.eval("0");
            thread::sleep(Duration::from_millis(50));
        }
    }

    fn open(&mut self, url: &str) {
        self.call("Page.navigate", json!({"url": url}));
        self.wait_for(
            "document.readyState === 'complete' && document.querySelectorAll('nav button').length > 0",
            "the console page",
        );
    }

    /// Types `text` into the focused element and presses Enter, as a person
    /// at the keyboard would.
    fn type_and_enter(&mut self, text: &str) {
        self.call("Input.insertText", json!({"text": text}));
        for kind in ["keyDown", "keyUp"] {
            let mut p = json!({"type": kind, "key": "Enter", "code": "Enter",
                               "windowsVirtualKeyCode": 13, "nativeVirtualKeyCode": 13});
            if kind == "keyDown" {
                p["text"] = json!("\r");
            }
            self.call("Input.dispatchKeyEvent", p);
        }
    }

    fn screenshot(&mut self, path: &Path) {
        let r = self.call("Page.captureScreenshot", json!({"format": "png"}));
        let png = base64_decode(r["data"].as_str().expect("base64 PNG"));
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        std::fs::create_dir_all(path.parent().expect("dir")).expect("create test-artifacts");
        std::fs::write(path, png).expect("write the screenshot");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.page.send(Message::text(
            json!({"id": 0, "method": "Browser.close"}).to_string(),
        ));
        let _ = self.process.wait(Duration::from_secs(3));
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => (c - b'A') as u32,
            b'a'..=b'z' => (c - b'a' + 26) as u32,
            b'0'..=b'9' => (c - b'0' + 52) as u32,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {c}"),
        }
    };
    let digits: Vec<u8> = s.bytes().filter(|&c| c != b'=' && c != b'\n').collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= val(c) << (18 - 6 * i);
        }
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    out
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
    b.open(&console_url(&s));
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
    b.open(&console_url(&s));
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
    b.open(&console_url(s));
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
