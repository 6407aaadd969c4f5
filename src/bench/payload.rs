//! What the connections send: slices of a random pattern (echo) or the
//! fixed request of `--request`. Nothing is allocated per message.

use rand::{Rng as _, RngExt as _};

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
    /// Random bytes, or with `text` random printable ASCII (`' '..='~'`),
    /// which is valid UTF-8 however it is sliced.
    pub fn new(span: usize, text: bool) -> Pattern {
        let mut bytes = vec![0u8; span + ROTATIONS];
        let mut rng = rand::rng();
        if text {
            for b in &mut bytes {
                *b = rng.random_range(b' '..=b'~');
            }
        } else {
            rng.fill_bytes(&mut bytes);
        }
        Pattern { bytes, span }
    }

    /// The first `len` bytes (at most the span) of batch `i`.
    pub fn batch(&self, i: u64, len: usize) -> &[u8] {
        let off = (i % ROTATIONS as u64) as usize;
        &self.bytes[off..off + len.min(self.span)]
    }
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
        let p = Pattern::new(64, false);
        assert_eq!(p.batch(0, 64).len(), 64);
        assert_ne!(p.batch(0, 64), p.batch(1, 64));
        assert_eq!(p.batch(0, 64), p.batch(ROTATIONS as u64, 64));
        assert_eq!(p.batch(3, 10).len(), 10);
    }

    #[test]
    fn text_patterns_are_printable_ascii() {
        let p = Pattern::new(1000, true);
        assert!(p.bytes.iter().all(|b| (b' '..=b'~').contains(b)));
        assert!(std::str::from_utf8(p.batch(7, 1000)).is_ok());
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
