//! `duplex connect --listen URL`: `nc -l`. Listens on URL, serves one
//! client with the same stdin/stdout pump as `connect` (see `stream` and
//! `udp`), and exits when that session ends; `-k` listens for the next
//! client instead, one at a time, as OpenBSD `nc -k` does.
//!
//! Over UDP there is no connection: the first datagram's sender becomes
//! the peer (as with `nc -lu`), a datagram from anyone else is printed
//! too and replies go to whoever sent last; the session ends like a UDP
//! `connect`, `--wait` after stdin's end.
//!
//! Over WebSocket (`ws://`, `wss://`) a client's opening handshake is
//! answered as `serve` answers it (the URL's path, or any path for `/`),
//! and the session is `connect`'s: a line is a message, a message a line
//! (`--binary`: binary messages).
//!
//! The socket is bound as `serve` binds it (`server::bound`), and the
//! bound URL (with the real port for port 0) is logged on stderr, since
//! stdout carries the data.

use std::time::Duration;

use tokio::io::Stdin;
use tokio::net::UdpSocket;
use tokio_rustls::TlsAcceptor;

use super::session::ConnectError;
use super::session::{Clock, Ending, Interrupt};
use super::stdio::{Lines, stdout_error, stdout_gone, write_record};
use super::{stream, udp, ws};
use crate::cli::ConnectArgs;
use crate::endpoint::Endpoint;
use crate::server::bound::{self, Accept, Bound, Handshakes, Peer};
use crate::tls::TlsFiles;
use crate::websocket::{self, Handshaken, Prefixed, Role, WebSocket};

/// How long a client may take to complete the TLS handshake, and then
/// the WebSocket handshake.
const TLS_HANDSHAKE: Duration = Duration::from_secs(10);

/// Runs `duplex connect --listen`.
pub async fn run(args: &ConnectArgs, interrupt: &mut Interrupt) -> anyhow::Result<Ending> {
    let tls = acceptor(args)?;
    let (socket, url) = bound::bind(&args.url).await?;
    tracing::info!("listening on {url}");
    match socket {
        Bound::Tcp(a) => streams(a, tls, args, interrupt).await,
        Bound::Unix(a) => streams(a, None, args, interrupt).await,
        Bound::Udp(s) => datagrams(s, args, interrupt).await,
    }
}

/// The TLS side of a `tls://` URL, from --tls-cert and --tls-key.
fn acceptor(args: &ConnectArgs) -> anyhow::Result<Option<TlsAcceptor>> {
    match (&args.url, &args.tls_cert, &args.tls_key) {
        (Endpoint::Tls(_) | Endpoint::Wss(_), Some(cert), Some(key)) => {
            let files = TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
            };
            Ok(Some(TlsAcceptor::from(crate::tls::server_config(&files)?)))
        }
        (Endpoint::Tls(_) | Endpoint::Wss(_), _, _) => Err(ConnectError(format!(
            "--listen on {}:// needs --tls-cert and --tls-key (for development, make a pair with `duplex cert --out DIR --host localhost`)",
            args.url.scheme()
        ))
        .into()),
        (url, Some(_), _) => Err(ConnectError(format!(
            "--tls-cert and --tls-key are for tls:// and wss:// URLs, not {url}"
        ))
        .into()),
        _ => Ok(None),
    }
}

/// What a session's end means for the next one: `Some` ends the command.
fn after(ending: anyhow::Result<Ending>, args: &ConnectArgs) -> Option<anyhow::Result<Ending>> {
    match ending {
        Ok(Ending::Interrupted) => Some(Ok(Ending::Interrupted)),
        r if !args.keep_listening => Some(r),
        Ok(Ending::Done) => None,
        Err(e) => {
            eprintln!("duplex: {e:#}");
            None
        }
    }
}

/// Stream clients, one at a time.
async fn streams<A: Accept>(
    acceptor: A,
    tls: Option<TlsAcceptor>,
    args: &ConnectArgs,
    interrupt: &mut Interrupt,
) -> anyhow::Result<Ending> {
    let mut stdin = tokio::io::stdin();
    // ws:// and wss:// read stdin as lines, once for all sessions; never
    // polled (so reading nothing) for the other schemes.
    let mut lines = ws::stdin_lines(args);
    let handshakes = Handshakes::new(ws::MAX_MESSAGE)?;
    loop {
        let Some(accepted) = interrupt.or(acceptor.accept()).await else {
            return Ok(Ending::Interrupted);
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // EMFILE and the like: try again shortly rather than spin.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        tracing::info!("connection from {peer}");
        let mut client = Client {
            peer,
            args,
            interrupt,
            stdin: &mut stdin,
            lines: &mut lines,
            handshakes: &handshakes,
        };
        let ending = match &tls {
            None => client.session(stream).await,
            Some(tls) => {
                let handshake = tokio::time::timeout(TLS_HANDSHAKE, tls.accept(stream));
                match client.interrupt.or(handshake).await {
                    None => Ok(Ending::Interrupted),
                    Some(Ok(Ok(s))) => client.session(s).await,
                    Some(Ok(Err(e))) => {
                        Err(ConnectError(format!("{peer}: TLS handshake failed: {e}")).into())
                    }
                    Some(Err(_)) => {
                        Err(ConnectError(format!("{peer}: TLS handshake timed out")).into())
                    }
                }
            }
        };
        if let Some(r) = after(ending, args) {
            return r;
        }
    }
}

/// One accepted client of a stream listener, and what its session needs.
struct Client<'a> {
    peer: Peer,
    args: &'a ConnectArgs,
    interrupt: &'a mut Interrupt,
    stdin: &'a mut Stdin,
    /// Stdin as lines, for ws:// and wss:// (see `ws::run`).
    lines: &'a mut Lines,
    handshakes: &'a Handshakes,
}

impl Client<'_> {
    /// `connect`'s session over `stream`: bytes, or for ws:// and wss://
    /// messages once the client's handshake is answered.
    async fn session<S>(&mut self, stream: S) -> anyhow::Result<Ending>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (args, clock) = (self.args, Clock::new(self.args));
        let (Endpoint::Ws(target) | Endpoint::Wss(target)) = &args.url else {
            return stream::pump(stream, &args.url, &clock, self.interrupt, self.stdin).await;
        };
        let handshake = self.handshakes.accept(stream, self.peer, &target.path);
        let (io, compression) = match self.interrupt.or(timeout(handshake)).await {
            None => return Ok(Ending::Interrupted),
            Some(Ok(Ok(x))) => x,
            Some(Ok(Err(e))) => return Err(ConnectError(format!("{e:#}")).into()),
            Some(Err(_)) => {
                let peer = self.peer;
                return Err(ConnectError(format!("{peer}: WebSocket handshake timed out")).into());
            }
        };
        if let Some(c) = &compression {
            tracing::debug!(extension = %c, "compression agreed");
        }
        let config = websocket::Config::new(ws::MAX_MESSAGE, true);
        let io = Prefixed::new(bytes::Bytes::new(), io);
        let ws = WebSocket::new(io, Role::Server, compression.as_ref(), &config)
            .map_err(|e| ConnectError(format!("WebSocket: {e}")))?;
        let handshaken = Handshaken {
            ws,
            protocol: None,
            compression,
        };
        ws::run(handshaken, self.lines, args, &clock, self.interrupt).await
    }
}

/// `fut`, within [`TLS_HANDSHAKE`].
fn timeout<F: Future>(fut: F) -> tokio::time::Timeout<F> {
    tokio::time::timeout(TLS_HANDSHAKE, fut)
}

/// UDP: a session starts with the first datagram and ends `--wait` after
/// stdin's end.
async fn datagrams(
    socket: UdpSocket,
    args: &ConnectArgs,
    interrupt: &mut Interrupt,
) -> anyhow::Result<Ending> {
    let mut lines = udp::stdin_lines();
    let mut buf = vec![0u8; 65_536];
    loop {
        let Some(received) = interrupt.or(socket.recv_from(&mut buf)).await else {
            return Ok(Ending::Interrupted);
        };
        let (n, peer) = match received {
            Ok(x) => x,
            Err(e) => {
                tracing::debug!(error = %e, "udp receive error");
                continue;
            }
        };
        tracing::info!("first datagram from {peer}");
        if let Err(e) = write_record(&buf[..n]) {
            return if stdout_gone(&e) {
                Ok(Ending::Done)
            } else {
                Err(stdout_error(e))
            };
        }
        let mut clock = Clock::new(args);
        let remote = udp::Remote::Last(peer);
        let ending = udp::run_with(&socket, remote, &mut lines, args, &mut clock, interrupt).await;
        if let Some(r) = after(ending, args) {
            return r;
        }
    }
}
