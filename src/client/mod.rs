//! `duplex connect`: stdin to the server, the server to stdout, both at once.
//!
//! * Stream transports (TCP, Unix, TLS): see `stream`.
//! * UDP: see `udp`.
//! * WebSocket: see [`ws`].
//!
//! Reaching the server is [`crate::dial`]'s work. What every transport
//! shares is in `session`: how a session ended (and so the exit status),
//! Ctrl-C, and the clock behind `-w` (give up after that long without data
//! either way) and `--quit-after` (quit that long after stdin EOF).
//! `--listen` (in `listen`) serves clients with the same pumps. `-z`
//! connects (and completes the TLS and WebSocket handshakes), closes, and
//! reports only whether that worked.

mod close;
mod listen;
mod session;
mod stdio;
mod stream;
mod udp;
pub mod ws;

use std::time::Duration;

use tokio::io::AsyncWriteExt;

use crate::cli::ConnectArgs;
use crate::dial::{Connection, Dialer};
use session::{Clock, Interrupt};
pub use session::{ConnectError, Ending};

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
    let dialer = Dialer::new(args.dial_options(args.max_message));
    let Some(connection) = interrupt.or(dialer.dial(&args.url)).await else {
        return Ok(Ending::Interrupted);
    };
    match connection? {
        Connection::Stream(mut stream) => {
            if args.zero_io {
                let _ = tokio::time::timeout(PROBE_CLOSE, stream.shutdown()).await;
                return Ok(Ending::Done);
            }
            stream::pump(
                stream,
                &args.url,
                &clock,
                &mut interrupt,
                &mut tokio::io::stdin(),
            )
            .await
        }
        Connection::Datagram(socket) => {
            if !args.zero_io {
                return udp::run(socket, &args, &mut clock, &mut interrupt).await;
            }
            match interrupt
                .or(udp::probe(&socket, &args.url, args.wait))
                .await
            {
                Some(r) => r.map(|()| Ending::Done),
                None => Ok(Ending::Interrupted),
            }
        }
        Connection::WebSocket(handshaken) => {
            let mut lines = ws::stdin_lines(&args);
            ws::run(*handshaken, &mut lines, &args, &clock, &mut interrupt).await
        }
    }
}
