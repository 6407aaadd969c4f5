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
//! The socket is bound as `serve` binds it (`server::bound`), and the
//! bound URL (with the real port for port 0) is logged on stderr, since
//! stdout carries the data.

use std::time::Duration;

use tokio::io::Stdin;
use tokio::net::UdpSocket;
use tokio_rustls::TlsAcceptor;

use super::session::ConnectError;
use super::session::{Clock, Ending, Interrupt};
use super::stdio::{stdout_error, stdout_gone, write_record};
use super::{stream, udp};
use crate::cli::ConnectArgs;
use crate::endpoint::Endpoint;
use crate::server::bound::{self, Accept, Bound};
use crate::tls::TlsFiles;

/// How long a client may take to complete the TLS handshake.
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
        (Endpoint::Tls(_), Some(cert), Some(key)) => {
            let files = TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
            };
            Ok(Some(TlsAcceptor::from(crate::tls::server_config(&files)?)))
        }
        (Endpoint::Tls(_), _, _) => Err(ConnectError(
            "--listen on tls:// needs --tls-cert and --tls-key (for development, make a pair with `duplex cert --out DIR --host localhost`)".into(),
        )
        .into()),
        (url, Some(_), _) => {
            Err(ConnectError(format!("--tls-cert and --tls-key are for tls:// URLs, not {url}")).into())
        }
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
        let ending = match &tls {
            None => session(stream, args, interrupt, &mut stdin).await,
            Some(tls) => {
                let handshake = tokio::time::timeout(TLS_HANDSHAKE, tls.accept(stream));
                match interrupt.or(handshake).await {
                    None => Ok(Ending::Interrupted),
                    Some(Ok(Ok(s))) => session(s, args, interrupt, &mut stdin).await,
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

async fn session<S: tokio::io::AsyncRead + tokio::io::AsyncWrite>(
    stream: S,
    args: &ConnectArgs,
    interrupt: &mut Interrupt,
    stdin: &mut Stdin,
) -> anyhow::Result<Ending> {
    let clock = Clock::new(args);
    stream::pump(stream, &args.url, &clock, interrupt, stdin).await
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
