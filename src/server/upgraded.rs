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

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http_body_util::Empty;
    use hyper::body::Incoming;
    use hyper::server::conn::http1;
    use hyper::service::service_fn;
    use hyper::{Request, Response};
    use std::convert::Infallible;
    use std::sync::{Arc, Mutex};
    use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
    use tokio::net::TcpListener;
    use tokio::sync::oneshot;

    /// The server side of an HTTP/1.1 upgrade served by hyper over `io`,
    /// requested by `peer`, as `server_io` hands it to the session.
    async fn upgraded_over<S>(io: S, mut peer: impl AsyncRead + AsyncWrite + Unpin) -> ServerIo
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let tx = Arc::new(Mutex::new(Some(tx)));
        let service = service_fn(move |req: Request<Incoming>| {
            let tx = tx.clone();
            async move {
                tokio::spawn(async move {
                    let upgraded = hyper::upgrade::on(req).await;
                    let sender = tx.lock().ok().and_then(|mut t| t.take());
                    if let (Ok(upgraded), Some(sender)) = (upgraded, sender) {
                        let _ = sender.send(server_io(upgraded));
                    }
                });
                Ok::<_, Infallible>(
                    Response::builder()
                        .status(101)
                        .header("connection", "upgrade")
                        .header("upgrade", "test")
                        .body(Empty::<Bytes>::new())
                        .expect("a valid response"),
                )
            }
        });
        let conn = http1::Builder::new()
            .serve_connection(TokioIo::new(io), service)
            .with_upgrades();
        tokio::spawn(conn);
        peer.write_all(
            b"GET / HTTP/1.1\r\nhost: x\r\nconnection: upgrade\r\nupgrade: test\r\n\r\n",
        )
        .await
        .expect("the request is written");
        let mut head = [0u8; 12];
        peer.read_exact(&mut head).await.expect("a response");
        assert_eq!(&head, b"HTTP/1.1 101");
        rx.await.expect("the upgrade is handed over")
    }

    /// Only the TCP socket itself may read without yawc's wake proxy. Any
    /// other stream hyper upgrades stays behind hyper's object and keeps
    /// the proxy: TLS over loopback TCP, with a certificate made here, as
    /// `wss://` serves it, and an in-memory pipe.
    #[tokio::test]
    async fn only_the_tcp_socket_itself_reads_without_the_wake_proxy() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("an address");
        let client = TcpStream::connect(addr).await.expect("connect");
        let (server, _) = listener.accept().await.expect("accept");
        let io = upgraded_over(server, client).await;
        assert!(matches!(io, Either::Left(_)), "plain TCP is taken back");
        assert!(reads_wait_alone(&io));

        let dir = tempfile::tempdir().expect("a temporary directory");
        let files = crate::tls::write_self_signed(dir.path(), &["localhost".to_string()])
            .expect("a self-signed certificate");
        let acceptor =
            tokio_rustls::TlsAcceptor::from(crate::tls::server_config(&files).expect("a config"));
        let connector = tokio_rustls::TlsConnector::from(
            crate::tls::client_config(Some(&files.cert), false).expect("a config"),
        );
        let client = TcpStream::connect(addr).await.expect("connect");
        let (server, _) = listener.accept().await.expect("accept");
        let name = crate::tls::server_name("localhost").expect("a name");
        let (server, client) =
            tokio::join!(acceptor.accept(server), connector.connect(name, client));
        let (server, client) = (
            server.expect("TLS accepted"),
            client.expect("TLS connected"),
        );
        let io = upgraded_over(server, client).await;
        assert!(matches!(io, Either::Right(_)), "TLS stays behind hyper");
        assert!(!reads_wait_alone(&io));

        let (server, client) = tokio::io::duplex(4096);
        let io = upgraded_over(server, client).await;
        assert!(matches!(io, Either::Right(_)), "anything else stays");
        assert!(!reads_wait_alone(&io));
    }
}
