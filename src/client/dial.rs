//! Reaching a server: resolving, connecting within a timeout, the TLS
//! handshake, and every failure as one line a user understands.

use std::time::Duration;

use crate::endpoint::{Endpoint, HostPort};

/// A failure of `duplex connect`, as one clear line.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConnectError(pub String);

pub(crate) fn fail(url: &Endpoint, why: impl std::fmt::Display) -> anyhow::Error {
    ConnectError(format!("cannot connect to {url}: {why}")).into()
}

/// An I/O error in the words a user expects.
pub(crate) fn describe(e: &std::io::Error) -> String {
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
