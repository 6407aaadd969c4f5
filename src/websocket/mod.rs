//! WebSocket (RFC 6455) with permessage-deflate (RFC 7692): the one stack
//! the server, `duplex connect`, `duplex bench` and relays share, on the
//! yawc crate.
//!
//! ```text
//! config.rs    Config: the crate's settings, built once per process
//! socket.rs    WebSocket: whole messages in and out, close handshakes, error closes
//! deflate.rs   permessage-deflate negotiation, server and client side
//! client.rs    the client's opening handshake (over hyper)
//! prefixed.rs  a stream that first yields bytes read past the handshake
//! close.rs     a close frame's code and reason, as people read them
//! unvectored.rs  a stream whose one-buffer writes go out with `send`, not `writev`
//! ```
//!
//! Why yawc (BENCHMARKS.md, "Choosing the WebSocket implementation", has
//! the measurements): it speaks permessage-deflate with every RFC 7692
//! parameter and bounds inflation while it runs (a compressed message
//! cannot inflate past `--max-message`), its reads are cancel-safe (every
//! bit of state lives in the socket, so a read can wait beside the idle
//! timer, pings and shutdown), it limits a whole fragmented message, and it
//! costs what tokio-websockets cost per message. Its handshakes are not
//! used: duplex negotiates the extension itself ([`deflate`]), answers the
//! server's handshake with its own routing and policies, and does the
//! client's over hyper so that a refusal shows the server's status and
//! body.

mod client;
mod close;
mod config;
pub mod deflate;
mod prefixed;
mod socket;
mod unvectored;

pub use client::{ClientOptions, HandshakeError, Handshaken, handshake, parse_header};
pub use close::Close;
pub use config::{Config, accept_key};
pub use deflate::Policy;
pub use prefixed::Prefixed;
pub use socket::{Error, Incoming, Kind, Message, Role, WebSocket};
pub(crate) use unvectored::Unvectored;
