//! Endpoint URLs: one syntax for every transport, used by `serve`, `connect`,
//! `bench` and the configuration file.
//!
//! ```text
//! tcp://HOST:PORT   udp://HOST:PORT   tls://HOST:PORT
//! unix:///abs/path  unix://relative/path
//! ws://HOST:PORT/PATH?QUERY   wss://HOST:PORT/PATH?QUERY
//! tcp://fd:3  udp://fd:dns  unix://fd:ctl  ws://fd:web/PATH   (inherited sockets)
//! ```
//!
//! `fd:N` and `fd:NAME` in the host position (the whole path for `unix://`)
//! name a listening socket the service manager passed to `duplex serve`
//! (systemd socket activation): `N` is the file descriptor number (3 is the
//! first), `NAME` what `LISTEN_FDNAMES` calls it (systemd's
//! `FileDescriptorName=`). The host `fd` is reserved for this; a socket file
//! really called `fd:3` in the working directory is `unix://./fd:3`.
//!
//! The parser is hand-written rather than built on a general URL crate because
//! the forms we accept are not general URLs: `tcp://:7000` (empty host, "bind
//! everything") and `unix://relative.sock` (a relative path in the authority
//! position) are both meaningful here, and every error must say exactly what is
//! wrong and show an example that works.
//!
//! ```text
//! mod.rs    this overview; the types, re-exported as crate::endpoint::X
//! url.rs    Endpoint: every transport in one type, written back as its URL
//! host.rs   Host, HostPort (resolving, the name for SNI) and WsTarget
//! fd.rs     FdRef: the fd:N and fd:NAME forms of socket activation
//! parse.rs  URL text -> Endpoint, and EndpointError: what is wrong, an example
//! tests.rs  round trips and every error message
//! ```

mod fd;
mod host;
mod parse;
mod url;

#[cfg(test)]
mod tests;

pub use fd::FdRef;
pub use host::{Host, HostPort, WsTarget};
pub use parse::EndpointError;
pub use url::Endpoint;
