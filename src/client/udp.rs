//! UDP client: one datagram per stdin line.
//!
//! A datagram carries its line as read, line break included, as `nc -u`
//! and the classic UDP clients send it (an empty line is the 1-byte
//! datagram `\n`); `--strip-newline` sends the bare line instead. Each
//! datagram received is printed, with `\n` added unless it ends with one.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::UdpSocket;

use super::session::{Clock, ConnectError, Ending, Expiry, Interrupt};
use super::stdio::{Line, Lines, stdin_error, stdout_error, stdout_gone, write_record};
use crate::cli::ConnectArgs;
use crate::dial::describe_udp;
use crate::endpoint::Endpoint;

/// The largest payload of one UDP datagram over IPv4.
const MAX_PAYLOAD: usize = 65_507;

/// What `-z` sends: an empty line, which line servers answer (duplex's
/// services do) and which, unlike an empty datagram, no line server
/// mistakes for nothing.
const PROBE: &[u8] = b"\n";

/// A UDP failure during the session: an ICMP refusal says nothing
/// listens there.
fn fail(url: &Endpoint, e: &std::io::Error) -> anyhow::Error {
    ConnectError(format!("cannot connect to {url}: {}", describe_udp(e))).into()
}

/// `-z` over UDP: sends [`PROBE`] and waits `wait` for a sign of life.
///
/// A reply proves the port open; an ICMP "port unreachable" proves it
/// closed (an error); silence proves nothing (a server that does not
/// answer, or a firewall that drops the probe), which is said on stderr
/// and is not an error, as with `nc -zu`.
pub async fn probe(socket: &UdpSocket, url: &Endpoint, wait: Duration) -> anyhow::Result<()> {
    socket.send(PROBE).await.map_err(|e| fail(url, &e))?;
    let mut buf = [0u8; 512];
    match tokio::time::timeout(wait, socket.recv(&mut buf)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(fail(url, &e)),
        Err(_) => {
            eprintln!(
                "duplex: {url}: no answer within {wait:?} (--wait): open, or a firewall drops the probe; UDP cannot tell which"
            );
            Ok(())
        }
    }
}

/// Stdin as the lines a UDP session sends.
pub fn stdin_lines() -> Lines {
    // Room for the line break that --strip-newline leaves out.
    Lines::new(MAX_PAYLOAD + 2)
}

/// Whom the datagrams of a session go to.
pub enum Remote {
    /// The server: the socket is connected to it.
    Server,
    /// `--listen`: the socket hears anyone, and replies go to whoever
    /// sent last.
    Last(SocketAddr),
}

impl Remote {
    /// Receives a datagram (cancel-safe).
    async fn recv(&mut self, socket: &UdpSocket, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Remote::Server => socket.recv(buf).await,
            Remote::Last(peer) => {
                let (n, from) = socket.recv_from(buf).await?;
                *peer = from;
                Ok(n)
            }
        }
    }

    async fn send(&self, socket: &UdpSocket, data: &[u8]) -> std::io::Result<usize> {
        match self {
            Remote::Server => socket.send(data).await,
            Remote::Last(peer) => socket.send_to(data, peer).await,
        }
    }
}

/// The stdin/stdout session over `socket`, connected to the server.
pub async fn run(
    socket: UdpSocket,
    args: &ConnectArgs,
    clock: &mut Clock,
    interrupt: &mut Interrupt,
) -> anyhow::Result<Ending> {
    let mut lines = stdin_lines();
    run_with(&socket, Remote::Server, &mut lines, args, clock, interrupt).await
}

/// The session over `socket` with `remote`; `lines` is stdin
/// ([`stdin_lines`]), which outlives a session.
pub async fn run_with(
    socket: &UdpSocket,
    mut remote: Remote,
    lines: &mut Lines,
    args: &ConnectArgs,
    clock: &mut Clock,
    interrupt: &mut Interrupt,
) -> anyhow::Result<Ending> {
    let url = &args.url;
    let mut buf = vec![0u8; 65_536];
    let mut stdin_open = true;
    // After stdin EOF: ends once no datagram has come for `--wait`.
    let quiet = tokio::time::sleep(args.wait);
    tokio::pin!(quiet);
    clock.touch();
    loop {
        tokio::select! {
            r = remote.recv(socket, &mut buf) => {
                let n = r.map_err(|e| fail(url, &e))?;
                clock.touch();
                if let Err(e) = write_record(&buf[..n]) {
                    return if stdout_gone(&e) { Ok(Ending::Done) } else { Err(stdout_error(e)) };
                }
                quiet.as_mut().reset(tokio::time::Instant::now() + args.wait);
            }
            r = lines.next(), if stdin_open => match r.map_err(stdin_error)? {
                Line::Eof => {
                    stdin_open = false;
                    clock.stdin_ended();
                    // The quiet period is the normal end of a UDP exchange:
                    // -w must not cut it short.
                    clock.forget_idle();
                    quiet.as_mut().reset(tokio::time::Instant::now() + args.wait);
                }
                Line::TooLong(n) => too_long(n),
                Line::Complete => {
                    let payload = if args.strip_newline { lines.bare() } else { lines.line() };
                    if payload.len() > MAX_PAYLOAD {
                        too_long(payload.len());
                        continue;
                    }
                    remote.send(socket, payload).await.map_err(|e| fail(url, &e))?;
                    clock.touch();
                }
            },
            _ = &mut quiet, if !stdin_open => return Ok(Ending::Done),
            why = clock.expired() => return match why {
                Expiry::Quit => Ok(Ending::Done),
                Expiry::Idle => Err(clock.idle_error(url)),
            },
            _ = interrupt.recv() => return Ok(Ending::Interrupted),
        }
    }
}

fn too_long(n: usize) {
    eprintln!(
        "duplex: a line of {n} bytes does not fit in one datagram (at most {MAX_PAYLOAD}); not sent"
    );
}
