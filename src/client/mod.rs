//! `duplex connect`: stdin to the server, the server to stdout, both at once.
//!
//! * Stream transports (TCP, Unix, TLS): see `stream`.
//! * UDP: see `udp`.
//! * WebSocket: see [`ws`].
//!
//! What every transport shares is in `session`: how a session ended (and
//! so the exit status), Ctrl-C, and the clock behind `-w` (give up after
//! that long without data either way) and `--quit-after` (quit that long
//! after stdin EOF). `--listen` (in `listen`) serves clients with the
//! same pumps. `-z` connects (and completes the TLS and WebSocket
//! handshakes), closes, and reports only whether that worked.

mod close;
pub(crate) mod dial;
mod listen;
mod session;
mod stdio;
mod stream;
mod udp;
pub mod ws;

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::cli::ConnectArgs;
use crate::endpoint::Endpoint;
pub use dial::ConnectError;
use dial::{connect_tcp, connect_tls, describe, fail};
pub use session::Ending;
use session::{Clock, Interrupt};

/// How long a `-z` check may take to close what it opened.
const PROBE_CLOSE: Duration = Duration::from_secs(1);

/// Runs `duplex connect`. Ctrl-C is handled here from the start, so that it
/// ends every transport in every phase the same way
/// ([`Ending::Interrupted`]).
pub async fn run(args: ConnectArgs) -> anyhow::Result<Ending> {
    let mut interrupt = Interrupt::new()?;
    if args.listen {
        return listen::run(&args, &mut interrupt).await;
    }
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
    stream::pump(stream, &args.url, clock, interrupt, &mut tokio::io::stdin()).await
}
