//! What the connections send: slices of a random pattern (echo) or the
//! fixed request of `--request`. Nothing is allocated per message.

use std::fmt::Write as _;

use rand::{Rng as _, RngExt as _};

use super::settings::Content;
use super::transport::Framing;

/// Offsets a batch can start at in the pattern; prime, so consecutive
/// batches never repeat until it wraps.
const ROTATIONS: usize = 251;

/// Random payload bytes, made once per connection. Batch `i` is the slice
/// starting at `i mod ROTATIONS`: every message differs from the ones around
/// it, and a server that returns a stale or shifted reply is caught.
pub struct Pattern {
    bytes: Vec<u8>,
    span: usize,
}

impl Pattern {
    /// Random bytes, random printable ASCII (`' '..='~'`), or JSON-like
    /// records; both texts are ASCII, valid UTF-8 however they are sliced.
    pub fn new(span: usize, content: Content) -> Pattern {
        let len = span + ROTATIONS;
        let mut rng = rand::rng();
        let bytes = match content {
            Content::Binary => {
                let mut bytes = vec![0u8; len];
                rng.fill_bytes(&mut bytes);
                bytes
            }
            Content::Text => (0..len).map(|_| rng.random_range(b' '..=b'~')).collect(),
            Content::Json => json_like(len, &mut rng),
        };
        Pattern { bytes, span }
    }

    /// The first `len` bytes (at most the span) of batch `i`.
    pub fn batch(&self, i: u64, len: usize) -> &[u8] {
        let off = (i % ROTATIONS as u64) as usize;
        &self.bytes[off..off + len.min(self.span)]
    }
}

/// `len` bytes of JSON-like records, as an API answers them: ids, user
/// names, e-mail addresses, timestamps, scores, flags and tags, every
/// record different. Text of this kind is what compression is for (random
/// bytes do not shrink at all).
fn json_like(len: usize, rng: &mut impl rand::Rng) -> Vec<u8> {
    const NAMES: [&str; 12] = [
        "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
        "mallory", "oscar",
    ];
    const TAGS: [&str; 8] = [
        "admin", "beta", "mobile", "eu-west", "us-east", "trial", "premium", "legacy",
    ];
    let mut s = String::with_capacity(len + 256);
    s.push('[');
    while s.len() < len {
        let name = NAMES[rng.random_range(0..NAMES.len())];
        let _ = write!(
            s,
            "{{\"id\":{},\"user\":\"{name}{}\",\"email\":\"{name}@example.com\",\
             \"created\":\"2026-{:02}-{:02}T{:02}:{:02}:{:02}Z\",\"score\":{}.{:02},\
             \"active\":{},\"tags\":[\"{}\"]}},",
            rng.random_range(0..1_000_000),
            rng.random_range(0..100),
            rng.random_range(1..=12),
            rng.random_range(1..=28),
            rng.random_range(0..24),
            rng.random_range(0..60),
            rng.random_range(0..60),
            rng.random_range(0..1000),
            rng.random_range(0..100),
            rng.random_bool(0.5),
            TAGS[rng.random_range(0..TAGS.len())],
        );
    }
    s.truncate(len);
    s.into_bytes()
}

/// The request of `--request`, framed for the transport (a line on a stream,
/// the bare text as a datagram or message) and laid out `--pipeline` times
/// back to back, so a batch of any size up to that is one slice.
#[derive(Debug, Clone)]
pub struct Requests {
    batch: Vec<u8>,
    /// Bytes of one framed request.
    len: usize,
}

impl Requests {
    pub fn new(text: &str, framing: Framing, pipeline: usize) -> Requests {
        let mut one = text.as_bytes().to_vec();
        if framing == Framing::Stream {
            one.push(b'\n');
        }
        Requests {
            len: one.len(),
            batch: one.repeat(pipeline.max(1)),
        }
    }

    /// `count` requests (at most the pipeline depth), back to back.
    pub fn batch(&self, count: usize) -> &[u8] {
        &self.batch[..(count * self.len).min(self.batch.len())]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_batches_differ() {
        let p = Pattern::new(64, Content::Binary);
        assert_eq!(p.batch(0, 64).len(), 64);
        assert_ne!(p.batch(0, 64), p.batch(1, 64));
        assert_eq!(p.batch(0, 64), p.batch(ROTATIONS as u64, 64));
        assert_eq!(p.batch(3, 10).len(), 10);
    }

    #[test]
    fn text_patterns_are_printable_ascii() {
        for content in [Content::Text, Content::Json] {
            let p = Pattern::new(1000, content);
            assert!(p.bytes.iter().all(|b| (b' '..=b'~').contains(b)));
            assert!(std::str::from_utf8(p.batch(7, 1000)).is_ok());
        }
        let json = Pattern::new(300, Content::Json);
        assert!(
            json.bytes.starts_with(b"[{\"id\":"),
            "{:?}",
            &json.bytes[..20]
        );
    }

    #[test]
    fn requests_are_framed_per_transport() {
        let r = Requests::new("1 6", Framing::Stream, 3);
        assert_eq!(r.batch(1), b"1 6\n");
        assert_eq!(r.batch(3), b"1 6\n1 6\n1 6\n");
        assert_eq!(r.batch(9), r.batch(3));
        let r = Requests::new("", Framing::Message, 2);
        assert_eq!(r.batch(2), b"");
    }
}
