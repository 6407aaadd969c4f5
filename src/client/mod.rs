//! `duplex connect`: stdin to the server, the server to stdout, both at once.
//!
//! * Stream transports (TCP, Unix, TLS): see [`stream`].
//! * UDP: see [`udp`].
//! * WebSocket: see [`ws`].
//!
//! What every transport shares is in [`session`]: how a session ended (and
//! so the exit status), Ctrl-C, and the clock behind `-w` (give up after
//! that long without data either way) and `--quit-after` (quit that long
//! after stdin EOF). `-z` connects (and completes the TLS and WebSocket
//! handshakes), closes, and reports only whether that worked.

mod close;
mod session;
mod stdio;
mod stream;
mod udp;
pub mod ws;

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::cli::ConnectArgs;
use crate::endpoint::{Endpoint, HostPort};
pub use session::Ending;
use session::{Clock, Interrupt};

/// How long a `-z` check may take to close what it opened.
const PROBE_CLOSE: Duration = Duration::from_secs(1);

/// A failure of `duplex connect`, as one clear line.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConnectError(pub String);

/// Runs `duplex connect`. Ctrl-C is handled here from the start, so that it
/// ends every transport in every phase the same way
/// ([`Ending::Interrupted`]).
pub async fn run(args: ConnectArgs) -> anyhow::Result<Ending> {
    let mut interrupt = Interrupt::new()?;
    let mut clock = Clock::new(&args);
    let url = &args.url;
    let timeout = args.connect_timeout();
    match url {
        Endpoint::Tcp(hp) => {
            let connected = connect_tcp(hp, url, timeout);
            over_stream(connected, &args, &clock, &mut interrupt).await
        }
        Endpoint::Unix(path) => {
            let connected = async {
                tokio::time::timeout(timeout, tokio::net::UnixStream::connect(path))
                    .await
                    .map_err(|_| fail(url, format!("timed out after {timeout:?}")))?
                    .map_err(|e| fail(url, describe(&e)))
            };
            over_stream(connected, &args, &clock, &mut interrupt).await
        }
        Endpoint::Tls(hp) => {
            let (ca, insecure) = (args.ca.as_deref(), args.insecure);
            let connected = connect_tls(hp, url, timeout, ca, insecure);
            over_stream(connected, &args, &clock, &mut interrupt).await
        }
        Endpoint::Udp(hp) => {
            let Some(socket) = interrupt.or(udp::open(hp, url)).await else {
                return Ok(Ending::Interrupted);
            };
            let socket = socket?;
            if !args.zero_io {
                return udp::run(socket, &args, &mut clock, &mut interrupt).await;
            }
            match interrupt.or(udp::probe(&socket, url, args.wait)).await {
                Some(r) => r.map(|()| Ending::Done),
                None => Ok(Ending::Interrupted),
            }
        }
        Endpoint::Ws(target) | Endpoint::Wss(target) => {
            ws::run(url, target, &args, &clock, &mut interrupt).await
        }
    }
}

/// Waits for `connected`, then runs `-z` (close at once; TLS sends its
/// close_notify) or the byte pump.
async fn over_stream<S: AsyncRead + AsyncWrite + Unpin>(
    connected: impl Future<Output = anyhow::Result<S>>,
    args: &ConnectArgs,
    clock: &Clock,
    interrupt: &mut Interrupt,
) -> anyhow::Result<Ending> {
    let Some(stream) = interrupt.or(connected).await else {
        return Ok(Ending::Interrupted);
    };
    let mut stream = stream?;
    if args.zero_io {
        let _ = tokio::time::timeout(PROBE_CLOSE, stream.shutdown()).await;
        return Ok(Ending::Done);
    }
    stream::pump(stream, &args.url, clock, interrupt).await
}

fn fail(url: &Endpoint, why: impl std::fmt::Display) -> anyhow::Error {
    ConnectError(format!("cannot connect to {url}: {why}")).into()
}

/// An I/O error in the words a user expects.
fn describe(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => {
            "connection refused (nothing is listening there)".into()
        }
        std::io::ErrorKind::NotFound => "no such socket file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// Resolves `hp`, or explains why it cannot be resolved.
pub(crate) async fn resolve(
    hp: &HostPort,
    url: &Endpoint,
) -> anyhow::Result<Vec<std::net::SocketAddr>> {
    hp.resolve().await.map_err(|e| {
        fail(
            url,
            format!("cannot resolve host '{}': {e}", hp.host_name()),
        )
    })
}

/// Connects to the first address of `hp` that answers, within `timeout`.
pub(crate) async fn connect_tcp(
    hp: &HostPort,
    url: &Endpoint,
    timeout: Duration,
) -> anyhow::Result<tokio::net::TcpStream> {
    let addrs = resolve(hp, url).await?;
    let attempt = async {
        let mut last = None;
        for addr in &addrs {
            match tokio::net::TcpStream::connect(addr).await {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| std::io::Error::other("no address")))
    };
    let stream = tokio::time::timeout(timeout, attempt)
        .await
        .map_err(|_| fail(url, format!("timed out after {timeout:?}")))?
        .map_err(|e| fail(url, describe(&e)))?;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// Connects over TCP and completes a TLS handshake, verifying the server
/// against the system roots plus `ca`, or not at all with `insecure`.
pub async fn connect_tls(
    hp: &HostPort,
    url: &Endpoint,
    timeout: Duration,
    ca: Option<&std::path::Path>,
    insecure: bool,
) -> anyhow::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    if insecure {
        eprintln!("duplex: --insecure: the server's certificate is NOT verified");
    }
    let config = crate::tls::client_config(ca, insecure)?;
    let name = crate::tls::server_name(&hp.host_name())?;
    let tcp = connect_tcp(hp, url, timeout).await?;
    let connector = tokio_rustls::TlsConnector::from(config);
    tokio::time::timeout(timeout, connector.connect(name, tcp))
        .await
        .map_err(|_| {
            fail(
                url,
                format!("the TLS handshake timed out after {timeout:?}"),
            )
        })?
        .map_err(|e| fail(url, format!("TLS handshake failed: {e}")))
}
