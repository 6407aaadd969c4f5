//! The WebSocket settings a process (or a client) builds once: limits,
//! UTF-8 checking, socket buffer sizes, and the deflate settings with the
//! pool that lends deflate state per message; and the handshake's accept
//! key, which both sides compute.

use sha1::{Digest, Sha1};
use yawc::{CompressionLevel, DeflatePool, Options};

/// Deflate level: the fastest. Level 1 compressed JSON-like text within a
/// few percent of what the default level 6 does, at a fraction of the CPU.
const LEVEL: u32 = 1;
/// The read buffer a connection starts with and returns to after a larger
/// message: small, because an idle connection keeps it.
const READ_BUFFER: usize = 1024;
/// The write buffer an idle connection keeps: none. It is allocated by the
/// first message sent and kept as long as messages stay under 8 KiB; a
/// larger one (written from its own memory, see vendor/yawc/PATCHES.md)
/// needs only room for its header.
const WRITE_BUFFER: usize = 0;

/// The WebSocket settings of every connection of a process (or of a
/// client), built once: limits, UTF-8 checking, buffer sizes, and the
/// deflate settings with the pool that lends deflate state per message.
#[derive(Clone)]
pub struct Config {
    pub(super) options: Options,
    /// Whether compression can be agreed at all.
    compression: bool,
}

impl Config {
    /// Messages of at most `max_message` bytes (whole, and inflated);
    /// compression possible when `compression`.
    pub fn new(max_message: usize, compression: bool) -> Config {
        // The crate's limits are exclusive: one more than the largest
        // message allowed, for one frame and for a whole message.
        let limit = max_message.saturating_add(1);
        let mut options = Options::default()
            .with_limits(limit, limit)
            .with_utf8()
            .with_read_buffer_capacity(READ_BUFFER)
            .with_write_buffer_capacity(WRITE_BUFFER);
        if compression {
            // The window sizes and context modes come from the string the
            // handshake agreed on; the pool lends state to every direction
            // that agreed on no context takeover. Sized for the messages
            // being compressed at one moment, not for the connections.
            // Every message is compressed, short ones too: sending short
            // ones plain would save CPU, but kosoku, the conformance suite
            // CI runs, cannot take a plain message in a compressed session
            // (BENCHMARKS.md has the cost).
            let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
            options = options
                .with_compression_level(CompressionLevel::new(LEVEL))
                .with_deflate_pool(DeflatePool::new(2 * workers));
        } else {
            options = options.without_compression();
        }
        Config {
            options,
            compression,
        }
    }

    /// True when this configuration can run an agreed compression.
    pub fn compression(&self) -> bool {
        self.compression
    }
}

/// The `Sec-WebSocket-Accept` value for a `Sec-WebSocket-Key` (RFC 6455
/// §4.2.2): base64 of the SHA-1 of the key and the protocol's GUID.
pub fn accept_key(key: &[u8]) -> String {
    use base64::Engine;
    let mut sha = Sha1::new();
    sha.update(key);
    sha.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    base64::engine::general_purpose::STANDARD.encode(sha.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_key_of_rfc_6455() {
        // The example of RFC 6455, section 1.3.
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }
}
