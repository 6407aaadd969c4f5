//! Reaching a bridge's TO for one session, with the dialer `duplex
//! connect` and `duplex bench` use ([`crate::dial`]): the same resolving,
//! timeouts, TLS settings, `--insecure` warning and error messages. What
//! a bridge adds: the PROXY header, which goes first on the connection,
//! before any TLS, as HAProxy's `send-proxy` does; the whole dial bounded
//! by `--connect-timeout`; and each failure's kind, for the metrics.
//!
//! The TLS client settings are built once per bridge, when it starts (the
//! system roots plus `--ca`, or none with `--insecure`), not per session;
//! the host is resolved per session, so that a long-running bridge
//! follows DNS changes.

use hyper::header::HeaderValue;
use tokio::io::AsyncWriteExt;

use super::edge_metrics::UpstreamFailure;
use crate::dial::{self, BoxStream, DialOptions, Dialer, Failure, Target};
use crate::endpoint::{Endpoint, WsTarget};
use crate::relay::proxy::{self, Origin, SendProxy};
use crate::relay::ws::WsPeer;
use crate::relay::{Side, udp};

/// Why an upstream could not be reached.
#[derive(Debug)]
pub struct DialError {
    pub kind: UpstreamFailure,
    pub message: String,
}

impl std::fmt::Display for DialError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<dial::DialError> for DialError {
    fn from(e: dial::DialError) -> DialError {
        let kind = match e.failure() {
            Failure::Refused => UpstreamFailure::Refused,
            Failure::Timeout => UpstreamFailure::Timeout,
            Failure::Dns => UpstreamFailure::Dns,
            Failure::Tls => UpstreamFailure::Tls,
            Failure::WebSocket => UpstreamFailure::WebSocket,
            Failure::Other => UpstreamFailure::Other,
        };
        DialError {
            kind,
            message: e.reason().to_string(),
        }
    }
}

fn failed(kind: UpstreamFailure, message: impl Into<String>) -> DialError {
    DialError {
        kind,
        message: message.into(),
    }
}

/// A TO reached for one session.
pub struct Reached {
    pub side: Side,
    /// A WebSocket TO: the subprotocol it chose among those offered, if
    /// any.
    pub protocol: Option<String>,
}

impl From<Side> for Reached {
    fn from(side: Side) -> Reached {
        Reached {
            side,
            protocol: None,
        }
    }
}

/// A bridge's TO, ready to be dialled once per session.
pub struct Upstream {
    pub url: Endpoint,
    dialer: Dialer,
    send_proxy: Option<SendProxy>,
    /// A WebSocket TO: the largest message (`--max-message`, which its
    /// client options were built with).
    max_message: usize,
}

impl Upstream {
    /// Checks `url`'s TLS settings now (a bad `--ca` stops the bridge from
    /// starting; `--insecure` is said once).
    pub fn new(
        url: Endpoint,
        options: DialOptions,
        send_proxy: Option<SendProxy>,
        max_message: usize,
    ) -> anyhow::Result<Upstream> {
        let dialer = Dialer::new(options);
        dialer.prepare(&url)?;
        Ok(Upstream {
            url,
            dialer,
            send_proxy,
            max_message,
        })
    }

    /// Whether TO is a WebSocket, which chooses a subprotocol of its own.
    pub fn is_websocket(&self) -> bool {
        matches!(self.url, Endpoint::Ws(_) | Endpoint::Wss(_))
    }

    /// Connects for a client that came from `origin`, within
    /// `--connect-timeout` in all. A WebSocket TO is offered `protocols`
    /// (a WebSocket client's `Sec-WebSocket-Protocol`).
    pub async fn dial(
        &self,
        origin: &Origin,
        protocols: Option<HeaderValue>,
    ) -> Result<Reached, DialError> {
        let timeout = self.dialer.options().timeout;
        tokio::time::timeout(timeout, self.connect(origin, protocols))
            .await
            .map_err(|_| {
                failed(
                    UpstreamFailure::Timeout,
                    format!("timed out after {timeout:?}"),
                )
            })?
    }

    async fn connect(
        &self,
        origin: &Origin,
        protocols: Option<HeaderValue>,
    ) -> Result<Reached, DialError> {
        let d = &self.dialer;
        let t = d.target(&self.url).await?;
        match &self.url {
            Endpoint::Tcp(_) => {
                let mut s = d.tcp(&t).await?;
                self.send_header(&mut s, origin).await?;
                Ok(Side::Bytes(Box::new(s)).into())
            }
            Endpoint::Unix(path) => {
                let mut s = d.unix(&t, path).await?;
                self.send_header(&mut s, origin).await?;
                Ok(Side::Bytes(Box::new(s)).into())
            }
            Endpoint::Tls(_) => {
                let mut s = d.tcp(&t).await?;
                self.send_header(&mut s, origin).await?;
                Ok(Side::Bytes(Box::new(d.tls_over(&t, s).await?)).into())
            }
            Endpoint::Udp(_) => {
                let socket = d.udp(&t).await?;
                Ok(Side::Messages(Box::new(udp::Dialled::new(socket))).into())
            }
            Endpoint::Ws(w) => {
                let mut s = d.tcp(&t).await?;
                self.send_header(&mut s, origin).await?;
                self.websocket(&t, w, Box::new(s), protocols).await
            }
            Endpoint::Wss(w) => {
                let mut s = d.tcp(&t).await?;
                self.send_header(&mut s, origin).await?;
                let tls = d.tls_over(&t, s).await?;
                self.websocket(&t, w, Box::new(tls), protocols).await
            }
        }
    }

    /// The WebSocket handshake over a connected stream: a refusal (HTTP
    /// 403…) is a failure to reach TO like any other.
    async fn websocket(
        &self,
        t: &Target,
        w: &WsTarget,
        stream: BoxStream,
        protocols: Option<HeaderValue>,
    ) -> Result<Reached, DialError> {
        let handshaken = self.dialer.websocket(t, w, stream, protocols).await?;
        if let Some(c) = &handshaken.compression {
            tracing::debug!(upstream = %self.url, extension = %c, "compression agreed");
        }
        let ws = WsPeer::new(handshaken.ws, self.max_message);
        Ok(Reached {
            side: Side::Messages(Box::new(ws)),
            protocol: handshaken.protocol,
        })
    }

    /// Starts the stream with the PROXY header, when asked for one.
    async fn send_header<S: tokio::io::AsyncWrite + Unpin>(
        &self,
        stream: &mut S,
        origin: &Origin,
    ) -> Result<(), DialError> {
        let Some(version) = self.send_proxy else {
            return Ok(());
        };
        let header = proxy::header(version, origin)
            .map_err(|e| failed(UpstreamFailure::Other, format!("PROXY header: {e}")))?;
        stream
            .write_all(&header)
            .await
            .map_err(|e| failed(UpstreamFailure::Other, dial::describe(&e)))
    }
}
