//! websockify's job, done by `duplex bridge ws://… tcp://…` for a real
//! browser: a page in headless Chromium (Debian's `chromium`, which
//! `scripts/test.sh` installs), driven over the DevTools protocol, opens a
//! WebSocket to the bridge as noVNC does (subprotocol `binary`, binary
//! messages) and gets its bytes back from a TCP echo (`socat`) behind it;
//! with the TCP side down, the browser's WebSocket fails to open.

mod browser;
mod common;
mod connect_peers;
mod wsutil;

use browser::Browser;
use common::*;
use connect_peers::socat_server;
use serde_json::json;

/// What the page does: opens a WebSocket to `url` as noVNC does, sends
/// 70 000 bytes and a text message, collects what comes back, closes, and
/// says what it saw.
fn exchange(url: &str) -> String {
    format!(
        r#"new Promise((resolve) => {{
  const ws = new WebSocket({url:?}, ['binary']);
  ws.binaryType = 'arraybuffer';
  const sent = new Uint8Array(70000).map((_, i) => (i * 7 + (i >> 8)) & 255);
  const want = sent.length + 'text too'.length;
  const got = new Uint8Array(want);
  let n = 0, messages = 0, opened = false;
  ws.onopen = () => {{ opened = true; ws.send(sent); ws.send('text too'); }};
  ws.onmessage = (e) => {{
    const b = new Uint8Array(e.data);
    got.set(b.subarray(0, Math.max(0, want - n)), n);
    n += b.length;
    messages += 1;
    if (n >= want) ws.close(1000, 'done');
  }};
  ws.onclose = (e) => {{
    const same = n === want && sent.every((v, i) => got[i] === v)
      && new TextDecoder().decode(got.subarray(sent.length)) === 'text too';
    resolve({{opened, same, n, messages, code: e.code,
      protocol: ws.protocol, extensions: ws.extensions}});
  }};
  setTimeout(() => resolve({{timeout: true, n}}), 8000);
}})"#
    )
}

#[test]
fn a_browser_page_reaches_a_tcp_echo_through_the_bridge() {
    let (_echo, port) = socat_server("TCP-LISTEN:0,bind=127.0.0.1,fork", "cat");
    let b = Server::start(
        &[
            "bridge",
            "ws://127.0.0.1:0/",
            &format!("tcp://127.0.0.1:{port}"),
        ],
        1,
    );
    let base = b.url(0).trim_end_matches('/').to_string();
    let mut browser = Browser::launch();
    // A page of the bridge's own origin, as noVNC's page is websockify's.
    browser.open(&format!("{}/healthz", base.replace("ws://", "http://")));
    let ws_url = format!("{base}/websockify");
    let seen = browser.eval(&exchange(&ws_url));
    assert_eq!(seen["opened"], json!(true), "{seen}");
    assert_eq!(
        seen["same"],
        json!(true),
        "the bytes came back changed: {seen}"
    );
    assert_eq!(seen["code"], json!(1000), "{seen}");
    assert_eq!(seen["protocol"], json!("binary"), "{seen}");
    let extensions = seen["extensions"].as_str().unwrap_or_default();
    assert!(extensions.contains("permessage-deflate"), "{seen}");
    // The session's line is written once it has ended, a moment after the
    // page saw the close answered.
    assert!(
        eventually(WAIT, || b.stderr().contains("session closed")),
        "no session line: {}",
        b.stderr()
    );
    let line = b.stderr();
    assert!(line.contains("client closed first"), "{line}");
    assert!(line.contains("bytes_in=70008 bytes_out=70008"), "{line}");

    // With nothing behind the bridge, the page's WebSocket does not open.
    let down = Server::start(
        &[
            "bridge",
            "ws://127.0.0.1:0/",
            &format!("tcp://127.0.0.1:{}", closed_port()),
        ],
        1,
    );
    let ws_url = format!("{}/websockify", down.url(0).trim_end_matches('/'));
    let seen = browser.eval(&exchange(&ws_url));
    assert_eq!(seen["opened"], json!(false), "{seen}");
    assert_eq!(seen["code"], json!(1006), "{seen}");
    let ok = eventually(WAIT, || down.stderr().contains("upstream unreachable"));
    assert!(ok, "{}", down.stderr());
}
