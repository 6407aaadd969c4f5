//! A direction driven by hand, poll by poll, between an in-memory stream
//! and a sink that keeps what it is given: how `--text` cuts a stream that
//! a read split inside a character.

use std::future::poll_fn;
use std::sync::{Arc, Mutex};

use tokio::io::AsyncWriteExt;

use super::*;
use crate::relay::side::MessagePeer;

/// A message sink that keeps what it is given.
struct Kept(Arc<Mutex<Vec<Message>>>);

impl MessagePeer for Kept {
    fn poll_recv(&mut self, _: &mut Context<'_>) -> Poll<io::Result<Option<Message>>> {
        Poll::Pending
    }
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn start_send(&mut self, message: Message) -> io::Result<()> {
        self.0.lock().expect("lock").push(message);
        Ok(())
    }
    fn poll_flush(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_close(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn max_message(&self) -> usize {
        1 << 20
    }
    fn ends(&self) -> bool {
        true
    }
}

/// What `--text` makes of `writes` to a stream, each read on its own.
async fn text_messages(writes: &[&[u8]]) -> Vec<Message> {
    let kept = Arc::new(Mutex::new(Vec::new()));
    let (mut writer, reader) = tokio::io::duplex(64);
    let mut source = Side::Bytes(Box::new(reader));
    let mut sink = Side::Messages(Box::new(Kept(kept.clone())));
    let mut d = Direction::new(16 * 1024, false, true, &sink);
    for w in writes {
        writer.write_all(w).await.expect("write");
        // One read, and the delivery of what it made.
        for _ in 0..2 {
            let _ = poll_fn(|cx| Poll::Ready(d.poll_step(cx, &mut source, &mut sink))).await;
        }
    }
    drop(writer);
    while !d.done() {
        poll_fn(|cx| d.poll_step(cx, &mut source, &mut sink))
            .await
            .map_err(|_| "fault")
            .expect("no fault");
    }
    kept.lock().expect("lock").clone()
}

#[tokio::test]
async fn text_keeps_a_character_cut_by_a_read_for_the_next_message() {
    let got = text_messages(&[b"h\xc3", b"\xa9llo"]).await;
    assert_eq!(
        got,
        [
            Message::Text(Bytes::from_static(b"h")),
            Message::Text(Bytes::from_static("éllo".as_bytes())),
        ]
    );
}

#[tokio::test]
async fn text_sends_bytes_that_are_not_utf8_as_binary() {
    let got = text_messages(&[b"ok", b"\xff\xfe", b"\xe2\x82"]).await;
    assert_eq!(
        got,
        [
            Message::Text(Bytes::from_static(b"ok")),
            Message::Binary(Bytes::from_static(b"\xff\xfe")),
            // A character cut by the end of the stream.
            Message::Binary(Bytes::from_static(b"\xe2\x82")),
        ]
    );
}
