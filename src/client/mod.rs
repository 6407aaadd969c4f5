//! `duplex connect`: stdin to the server, the server to stdout, both at once.
//!
//! * Stream transports (TCP, Unix) carry raw bytes both ways, like `nc`. At
//!   stdin EOF the client half-closes its write side and keeps printing until
//!   the server closes.
//! * UDP sends each stdin line as one datagram and prints each datagram
//!   received, adding `\n` unless it ends with one. After stdin EOF it waits
//!   until no datagram has arrived for `--wait`, then exits.
//! * WebSocket: see [`ws`].

mod udp;
pub mod ws;

use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::cli::ConnectArgs;
use crate::endpoint::{Endpoint, HostPort};

/// A failure of `duplex connect`, as one clear line.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConnectError(pub String);

pub async fn run(args: ConnectArgs) -> anyhow::Result<()> {
    match &args.url {
        Endpoint::Tcp(hp) => {
            let stream = connect_tcp(hp, &args.url, args.timeout).await?;
            pump(stream).await.with_context(|| format!("{}", args.url))
        }
        Endpoint::Unix(path) => {
            let stream = tokio::time::timeout(args.timeout, tokio::net::UnixStream::connect(path))
                .await
                .map_err(|_| fail(&args.url, format!("timed out after {:?}", args.timeout)))?
                .map_err(|e| fail(&args.url, describe(&e)))?;
            pump(stream).await.with_context(|| format!("{}", args.url))
        }
        Endpoint::Udp(hp) => udp::run(hp, &args).await,
        Endpoint::Tls(hp) => {
            let stream = connect_tls(
                hp,
                &args.url,
                args.timeout,
                args.ca.as_deref(),
                args.insecure,
            )
            .await?;
            pump(stream).await.with_context(|| format!("{}", args.url))
        }
        Endpoint::Ws(target) | Endpoint::Wss(target) => ws::run(&args.url, target, &args).await,
    }
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

/// Copies stdin to the stream and the stream to stdout at the same time.
/// Returns when the server closes its side.
async fn pump<S: AsyncRead + AsyncWrite>(stream: S) -> std::io::Result<()> {
    let (mut from_server, mut to_server) = tokio::io::split(stream);
    let mut stdin = tokio::io::stdin();
    let mut stdout = tokio::io::stdout();
    let upload = async {
        tokio::io::copy(&mut stdin, &mut to_server).await?;
        // stdin ended: tell the server we are done sending.
        to_server.shutdown().await
    };
    let download = async {
        tokio::io::copy(&mut from_server, &mut stdout).await?;
        stdout.flush().await
    };
    tokio::pin!(upload, download);
    let mut uploading = true;
    loop {
        tokio::select! {
            r = &mut download => return r,
            r = &mut upload, if uploading => {
                uploading = false;
                if let Err(e) = r {
                    // The server may have closed already; its data still comes.
                    tracing::debug!(error = %e, "sending stopped");
                }
            }
        }
    }
}
