//! Stream transports (TCP, Unix, TLS): raw bytes both ways, like `nc`.
//!
//! At stdin EOF the client half-closes its write side and keeps printing
//! until the server closes, `--quit-after` passes or `-w` finds the session
//! idle. A closed stdout (`| head`) ends the session quietly.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, Stdin};

use super::session::{Clock, ConnectError, Ending, Expiry, Interrupt};
use super::stdio::{stdout_error, stdout_gone};
use crate::dial::describe;
use crate::endpoint::Endpoint;

/// Bytes moved per read in each direction.
const CHUNK: usize = 64 * 1024;

/// Why the download direction stopped.
enum Down {
    /// The server closed its side.
    Closed,
    /// Reading from the server failed.
    Network(std::io::Error),
    /// Writing to stdout failed.
    Stdout(std::io::Error),
}

/// Copies stdin to the stream and the stream to stdout at the same time,
/// until the session ends.
///
/// `stdin` outlives the session (`--listen -k` serves one session after
/// another): a read cut short when a session ends is not lost, the next
/// session gets its data.
pub async fn pump<S: AsyncRead + AsyncWrite>(
    stream: S,
    url: &Endpoint,
    clock: &Clock,
    interrupt: &mut Interrupt,
    stdin: &mut Stdin,
) -> anyhow::Result<Ending> {
    let (from_server, to_server) = tokio::io::split(stream);
    let upload = upload(to_server, clock, stdin);
    let download = download(from_server, clock);
    tokio::pin!(upload, download);
    let mut uploading = true;
    clock.touch();
    loop {
        tokio::select! {
            d = &mut download => return match d {
                Down::Closed => Ok(Ending::Done),
                Down::Stdout(e) if stdout_gone(&e) => Ok(Ending::Done),
                Down::Stdout(e) => Err(stdout_error(e)),
                Down::Network(e) => Err(ConnectError(format!("{url}: {}", describe(&e))).into()),
            },
            r = &mut upload, if uploading => {
                uploading = false;
                clock.stdin_ended();
                if let Err(e) = r {
                    // The server may have closed already; its data still comes.
                    tracing::debug!(error = %e, "sending stopped");
                }
            }
            why = clock.expired() => return match why {
                Expiry::Quit => Ok(Ending::Done),
                Expiry::Idle => Err(clock.idle_error(url)),
            },
            _ = interrupt.recv() => return Ok(Ending::Interrupted),
        }
    }
}

/// Stdin to the server; at stdin EOF, half-closes.
async fn upload<W: AsyncWrite>(
    to_server: W,
    clock: &Clock,
    stdin: &mut Stdin,
) -> std::io::Result<()> {
    tokio::pin!(to_server);
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = stdin.read(&mut buf).await?;
        if n == 0 {
            // Tell the server we are done sending.
            return to_server.shutdown().await;
        }
        to_server.write_all(&buf[..n]).await?;
        clock.touch();
    }
}

/// The server to stdout, until the server closes or a side fails.
async fn download<R: AsyncRead>(from_server: R, clock: &Clock) -> Down {
    tokio::pin!(from_server);
    let mut stdout = tokio::io::stdout();
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match from_server.read(&mut buf).await {
            Ok(0) => return Down::Closed,
            Ok(n) => n,
            Err(e) => return Down::Network(e),
        };
        clock.touch();
        if let Err(e) = stdout.write_all(&buf[..n]).await {
            return Down::Stdout(e);
        }
        if let Err(e) = stdout.flush().await {
            return Down::Stdout(e);
        }
    }
}
