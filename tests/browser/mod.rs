//! A real browser for the tests: headless Chromium (Debian's `chromium`,
//! which `scripts/test.sh` installs) with one page, driven over the
//! DevTools protocol. Every wait is bounded by [`WAIT`].

#![allow(dead_code)]

use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::common::{Interactive, WAIT, tempdir};
use crate::wsutil::{Ws, http, recv, ws, ws_addr};

const CHROMIUM: &str = "/usr/bin/chromium";

/// A headless Chromium with one page. Closed (and killed) when dropped.
pub struct Browser {
    process: Interactive,
    page: Ws,
    next_id: u64,
    /// DevTools events seen while waiting for answers (`Network.*` once
    /// enabled), oldest first.
    events: Vec<Value>,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub fn launch() -> Browser {
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
        let url = process.stderr_after("DevTools listening on ", Duration::from_secs(30));
        let url = url.unwrap_or_else(|| panic!("Chromium did not start: {}", process.stderr()));
        let devtools: std::net::SocketAddr = format!("127.0.0.1:{}", ws_addr(&url).port())
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
    pub fn call(&mut self, method: &str, params: Value) -> Value {
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
                assert!(v["error"].is_null(), "{method} failed: {}", v["error"]);
                return v["result"].clone();
            }
        }
    }

    /// Evaluates a JavaScript expression in the page, awaiting it if it is
    /// a promise, and returns its value.
    pub fn eval(&mut self, expr: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": expr, "returnByValue": true, "awaitPromise": true}),
        );
        assert!(
            r["exceptionDetails"].is_null(),
            "{expr} threw: {}",
            r["exceptionDetails"]
        );
        r["result"]["value"].clone()
    }

    /// Waits until `expr` is true in the page; on failure, says what
    /// `explain` (an expression) says then.
    pub fn wait_until(&mut self, expr: &str, what: &str, explain: &str) {
        let deadline = Instant::now() + WAIT;
        while self.eval(expr) != json!(true) {
            if Instant::now() >= deadline {
                let seen = self.eval(explain);
                panic!("{what}: not seen within {WAIT:?}; {explain} is {seen}");
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Opens `url` and waits for it to load.
    pub fn open(&mut self, url: &str) {
        self.call("Page.navigate", json!({"url": url}));
        self.wait_until(
            &format!("document.readyState === 'complete' && location.href === {url:?}"),
            url,
            "location.href + ' ' + document.readyState",
        );
    }

    /// The parameters of the first DevTools event named `method` (waiting
    /// for it at most [`WAIT`]).
    pub fn event(&mut self, method: &str) -> Value {
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

    /// Types `text` into the focused element and presses Enter, as a person
    /// at the keyboard would.
    pub fn type_and_enter(&mut self, text: &str) {
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

    /// Writes a PNG of the page to `path`.
    pub fn screenshot(&mut self, path: &Path) {
        let r = self.call("Page.captureScreenshot", json!({"format": "png"}));
        let png = base64::engine::general_purpose::STANDARD
            .decode(r["data"].as_str().expect("base64 PNG"))
            .expect("base64 PNG");
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
