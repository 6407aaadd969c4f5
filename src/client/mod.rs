//! `duplex connect`: stdin to the server, the server to stdout, both at once.
//!
//! * Stream transports (TCP, Unix) carry raw bytes both ways, like `nc`. At
//!   stdin EOF the client half-closes its write side and keeps printing until
//!   the server closes.
//! * UDP sends each stdin line as one datagram and prints each datagram
//!   received, adding `\n` unless it ends with one. After stdin EOF it waits
//!   until no datagram has arrived for `--wait`, then exits.
//! * WebSocket: see [`ws`].

mod dial;
mod udp;
pub mod ws;

use anyhow::Context;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::cli::ConnectArgs;
use crate::endpoint::Endpoint;
pub use dial::ConnectError;
use dial::{connect_tcp, connect_tls, describe, fail};

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
