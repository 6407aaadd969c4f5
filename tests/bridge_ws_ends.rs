//! How a bridge session with a WebSocket client ends, and what it counts
//! (docs/behaviour.md, "Relaying"): once the client has closed and its
//! close has reached a stream TO as EOF, the session is over even if TO
//! never closes (nothing TO says can reach the client any more), and the
//! bytes counted toward the client are those it was sent, never what was
//! dropped after its close.

mod bridgeutil;
mod common;
mod tlsutil;
mod wsutil;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use bridgeutil::*;
use common::*;
use tokio_tungstenite::tungstenite::{self, Message};
use wsutil::{OP_BINARY, OP_CLOSE, accept_within, frame};

fn ws_bridge(to: &str, extra: &[&str]) -> Server {
    let mut args = vec!["--metrics", "tcp://127.0.0.1:0"];
    args.extend_from_slice(extra);
    bridge("ws://127.0.0.1:0/", to, &args)
}

/// Reads data messages until the bridge's close and the end of the
/// connection; their payload bytes in all.
fn received_until_closed(ws: &mut wsutil::Ws) -> usize {
    let mut got = 0;
    loop {
        match ws.read() {
            Ok(Message::Text(t)) => got += t.len(),
            Ok(Message::Binary(b)) => got += b.len(),
            Ok(_) => {}
            Err(tungstenite::Error::Io(e)) => panic!("no end from the bridge: {e}"),
            Err(_) => return got,
        }
    }
}

#[test]
fn a_websocket_close_ends_the_session_though_a_stream_to_talks_on_and_never_closes() {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let to = format!("tcp://{}", l.local_addr().expect("addr"));
    // Long enough that waiting for TO's silence would show.
    let b = ws_bridge(&to, &["--wait", "60s"]);
    let mut ws = wsutil::ws(bridge_url(&b));
    let mut s = accept_within(&l, WAIT).expect("dialled");
    let stop = Arc::new(AtomicBool::new(false));
    let talker = {
        let (mut w, stop) = (s.try_clone().expect("clone"), stop.clone());
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) && w.write_all(b"more\n").is_ok() {
                thread::sleep(Duration::from_millis(10));
            }
        })
    };
    ws.send(Message::binary(b"bye".to_vec())).expect("send");
    ws.close(None).expect("close");
    let start = Instant::now();
    // TO gets the data and EOF...
    let mut got = Vec::new();
    s.read_to_end(&mut got).expect("EOF");
    assert_eq!(got, b"bye");
    // ...and the session ends with it, not after --wait of silence.
    let sent = received_until_closed(&mut ws);
    let lines = log_lines(&b, &["session closed", "client closed first"], 1);
    let took = start.elapsed();
    assert!(took < Duration::from_secs(5), "ended after {took:?}");
    assert!(
        lines[0].contains(&format!("bytes_out={sent} ")),
        "{sent}: {lines:?}"
    );
    sessions_end(b.url(0), "ws");
    stop.store(true, Ordering::Relaxed);
    talker.join().expect("talker");
}

/// Reads one frame the bridge sends upstream (masked): its first byte and
/// payload.
fn read_masked(s: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut head = [0u8; 2];
    s.read_exact(&mut head).expect("frame head");
    let mut len = (head[1] & 0x7f) as usize;
    if len == 126 {
        let mut n = [0u8; 2];
        s.read_exact(&mut n).expect("length");
        len = u16::from_be_bytes(n) as usize;
    } else if len == 127 {
        let mut n = [0u8; 8];
        s.read_exact(&mut n).expect("length");
        len = u64::from_be_bytes(n) as usize;
    }
    assert_eq!(head[1] & 0x80, 0x80, "a client frame must be masked");
    let mut key = [0u8; 4];
    s.read_exact(&mut key).expect("mask");
    let mut payload = vec![0u8; len];
    s.read_exact(&mut payload).expect("payload");
    payload
        .iter_mut()
        .enumerate()
        .for_each(|(i, b)| *b ^= key[i % 4]);
    (head[0], payload)
}

#[test]
fn bytes_out_counts_what_reached_the_client_not_what_came_after_its_close() {
    // TO says hello, then answers the close with 3000 bytes more before
    // its own close: those can only be dropped.
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let to = format!("ws://{}/", l.local_addr().expect("addr"));
    let server = thread::spawn(move || {
        let mut s = accept_within(&l, WAIT).expect("the bridge dials");
        wsutil::answer_handshake(&mut s);
        s.write_all(&frame(0x80 | OP_BINARY, b"hello", None))
            .expect("hello");
        while read_masked(&mut s).0 & 0x0f != OP_CLOSE {}
        for _ in 0..3 {
            let _ = s.write_all(&frame(0x80 | OP_BINARY, &[7; 1000], None));
        }
        let _ = s.write_all(&frame(0x80 | OP_CLOSE, &1000u16.to_be_bytes(), None));
        let _ = s.read_to_end(&mut Vec::new());
    });
    let b = ws_bridge(&to, &[]);
    let mut ws = wsutil::ws(bridge_url(&b));
    assert_eq!(wsutil::recv(&mut ws), Message::binary(b"hello".to_vec()));
    ws.close(None).expect("close");
    assert_eq!(received_until_closed(&mut ws), 0);
    let lines = log_lines(&b, &["session closed", "client closed first"], 1);
    assert!(lines[0].contains("bytes_out=5 "), "{lines:?}");
    server.join().expect("server");
    sessions_end(b.url(0), "ws");
}
