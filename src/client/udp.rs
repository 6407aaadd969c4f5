//! UDP client: one datagram per stdin line.

use std::io::Write;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use tokio::io::AsyncBufReadExt;
use tokio::net::UdpSocket;

use super::dial::{describe, fail, resolve};
use crate::cli::ConnectArgs;
use crate::endpoint::HostPort;

/// The largest payload of one UDP datagram over IPv4.
const MAX_PAYLOAD: usize = 65_507;

pub async fn run(hp: &HostPort, args: &ConnectArgs) -> anyhow::Result<()> {
    let url = &args.url;
    let target = *resolve(hp, url)
        .await?
        .first()
        .ok_or_else(|| fail(url, "the host has no address"))?;
    let local: SocketAddr = if target.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(local).await.map_err(|e| fail(url, e))?;
    // Connecting filters out datagrams from anyone else and turns ICMP
    // "port unreachable" into an error we can report.
    socket
        .connect(target)
        .await
        .map_err(|e| fail(url, describe(&e)))?;

    let mut lines = tokio::io::BufReader::new(tokio::io::stdin());
    let mut line = Vec::new();
    let mut buf = vec![0u8; 65_536];
    let mut stdin_open = true;
    let mut quiet = Box::pin(tokio::time::sleep(args.wait));
    loop {
        tokio::select! {
            r = socket.recv(&mut buf) => {
                let n = r.map_err(|e| fail(url, describe(&e)))?;
                print_datagram(&buf[..n])?;
                quiet.as_mut().reset(tokio::time::Instant::now() + args.wait);
            }
            r = lines.read_until(b'\n', &mut line), if stdin_open => {
                let n = r?;
                if n == 0 {
                    stdin_open = false;
                    quiet.as_mut().reset(tokio::time::Instant::now() + args.wait);
                    // A read interrupted by a datagram may have left the
                    // start of a last, unterminated line in `line`: send it.
                    if line.is_empty() {
                        continue;
                    }
                }
                let mut payload = line.as_slice();
                if let Some(p) = payload.strip_suffix(b"\n") {
                    payload = p.strip_suffix(b"\r").unwrap_or(p);
                }
                if payload.len() > MAX_PAYLOAD {
                    eprintln!("duplex: a line of {} bytes does not fit in one datagram (at most {MAX_PAYLOAD}); not sent", payload.len());
                } else if let Err(e) = socket.send(payload).await {
                    return Err(fail(url, describe(&e)));
                }
                line.clear();
            }
            _ = &mut quiet, if !stdin_open => return Ok(()),
        }
    }
}

fn print_datagram(d: &[u8]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(d)?;
    if !d.ends_with(b"\n") {
        out.write_all(b"\n")?;
    }
    out.flush()
}
