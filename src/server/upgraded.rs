//! The connection under a server-side WebSocket, once hyper hands it over.
//!
//! hyper returns the upgraded connection as `Upgraded`: the accepted
//! stream behind a trait object, with what hyper had read past the
//! handshake in front of it. Every read and write of the session then goes
//! through that object and hyper's I/O adapters (about 150 instructions
//! per echoed message, counted with callgrind). A plain TCP connection,
//! the common case, is taken back out of it (`Upgraded::downcast`), so
//! that the session reads and writes the socket itself; anything else
//! (TLS, Unix, a type hyper wrapped differently) stays as hyper gave it.

use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_util::either::Either;

use crate::websocket::Prefixed;

/// An upgraded connection: the TCP socket itself (after the bytes hyper
/// read past the handshake), or hyper's object.
pub type ServerIo = Either<Prefixed<TcpStream>, TokioIo<Upgraded>>;

/// Whether reading `io` only ever waits for read readiness, so that a
/// WebSocket over it can skip its wake proxy
/// ([`crate::websocket::WebSocket::set_direct_read_wakeups`]): true for the
/// TCP socket itself. hyper's object may be TLS, whose reads can write.
pub fn reads_wait_alone(io: &ServerIo) -> bool {
    matches!(io, Either::Left(_))
}

/// The upgraded connection, taken back from hyper when it is plain TCP.
/// `Prefixed` lets go of hyper's read buffer once what it read ahead has
/// been consumed (or at once, when it read nothing ahead).
pub fn server_io(upgraded: Upgraded) -> ServerIo {
    match upgraded.downcast::<TokioIo<TcpStream>>() {
        Ok(parts) => Either::Left(Prefixed::new(parts.read_buf, parts.io.into_inner())),
        Err(upgraded) => Either::Right(TokioIo::new(upgraded)),
    }
}
