//! Load and hold WebSocket connections that offer permessage-deflate (on
//! yawc): the load generator of the compressed scenarios of
//! `scripts/bench-compare.sh` (`duplex bench` offers no extension).
//!
//! ```text
//! ws_deflate_load ws://127.0.0.1:PORT/ load -c 20 -d 5 -s 65536
//! ws_deflate_load ws://127.0.0.1:PORT/ hold 10000 [-d 300]
//! ws_deflate_load ws://127.0.0.1:PORT/ load -c 20 -d 5 --compression off
//! ```
//!
//! `load`: closed loop, each of `-c` connections sends a text message of
//! `-s` bytes of JSON-like text (records with ids, names, timestamps and
//! numbers; every message different), waits for the echo and checks it.
//! `hold`: opens N connections (at most 200 handshakes at a time), each
//! echoes one 64-byte message, then says `holding N` on stderr and keeps
//! them open until SIGINT or `-d`. Both print one JSON object on stdout, with
//! the keys `duplex bench --json` has that the script reads (`messages`,
//! `messages_per_sec`, `cpu_secs`, `errors.total`) and the bytes that
//! crossed the TCP connection (frame headers included, handshake excluded)
//! per message in each direction, and the `Sec-WebSocket-Extensions` the
//! server answered.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use bytes::Bytes;
use futures_util::SinkExt;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use yawc::{CompressionLevel, Frame, OpCode, Options, WebSocket};

/// A stream that counts the bytes read from and written to it.
struct Counted {
    inner: TcpStream,
    read: Arc<AtomicU64>,
    written: Arc<AtomicU64>,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = (buf.filled().len() - before) as u64;
        self.read.fetch_add(n, Ordering::Relaxed);
        r
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, data);
        if let Poll::Ready(Ok(n)) = r {
            self.written.fetch_add(n as u64, Ordering::Relaxed);
        }
        r
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

struct Setup {
    url: String,
    addr: String,
    compress: bool,
    /// Bytes read and written by every connection, after the handshakes.
    read: Arc<AtomicU64>,
    written: Arc<AtomicU64>,
}

impl Setup {
    /// Connects and completes the handshake.
    async fn open(&self) -> anyhow::Result<WebSocket<Counted>> {
        let tcp = TcpStream::connect(&self.addr).await?;
        tcp.set_nodelay(true)?;
        // Handshakes are counted too; `load` takes its snapshot after them.
        let io = Counted {
            inner: tcp,
            read: self.read.clone(),
            written: self.written.clone(),
        };
        let mut options = Options::default().with_limits(1 << 21, 1 << 21);
        if self.compress {
            // Offers `permessage-deflate; client_max_window_bits=15`: what
            // browsers offer (they leave the value out, which yawc cannot),
            // so that a server may ask for a smaller client window.
            options = options
                .with_compression_level(CompressionLevel::new(1))
                .with_client_max_window_bits(15);
        }
        // yawc's client does not hand back the response headers:
        // `agreed_extensions` reads them with a raw handshake of its own.
        let ws = WebSocket::handshake(self.url.parse()?, io, options).await?;
        Ok(ws)
    }
}

/// Reads the server's `Sec-WebSocket-Extensions` answer to the offer this
/// client makes, with a raw handshake on a connection of its own.
async fn agreed_extensions(addr: &str, compress: bool) -> anyhow::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = TcpStream::connect(addr).await?;
    let offer = if compress {
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=15\r\n"
    } else {
        ""
    };
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{offer}\r\n"
    );
    tcp.write_all(request.as_bytes()).await?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf)).await??;
        if n == 0 || head.len() > 16 << 10 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&head).to_string();
    Ok(head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("sec-websocket-extensions")
                .then(|| value.trim().to_string())
        })
        .unwrap_or_default())
}

/// `count` different messages of JSON-like text, `size` bytes each.
fn payloads(size: usize, count: usize) -> Vec<Bytes> {
    const NAMES: [&str; 12] = [
        "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
        "mallory", "oscar",
    ];
    const TAGS: [&str; 8] = [
        "admin", "beta", "mobile", "eu-west", "us-east", "trial", "premium", "legacy",
    ];
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..count)
        .map(|_| {
            let mut s = String::with_capacity(size + 256);
            s.push('[');
            while s.len() < size {
                let r = next();
                let id = r % 1_000_000;
                let name = NAMES[(r >> 20) as usize % NAMES.len()];
                let tag = TAGS[(r >> 24) as usize % TAGS.len()];
                s.push_str(&format!(
                    "{{\"id\":{id},\"user\":\"{name}{}\",\"email\":\"{name}@example.com\",\
                     \"created\":\"2026-{:02}-{:02}T{:02}:{:02}:{:02}Z\",\"score\":{}.{:02},\
                     \"active\":{},\"tags\":[\"{tag}\"]}},",
                    (r >> 8) % 100,
                    1 + (r >> 30) % 12,
                    1 + (r >> 34) % 28,
                    (r >> 38) % 24,
                    (r >> 42) % 60,
                    (r >> 46) % 60,
                    (r >> 50) % 1000,
                    (r >> 52) % 100,
                    (r >> 60) % 2 == 0,
                ));
            }
            s.truncate(size);
            Bytes::from(s)
        })
        .collect()
}

/// The process's own CPU time so far (user + system, from /proc).
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces): utime is the
    // 12th and stime the 13th, in clock ticks of 1/100 s.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let ticks: f64 = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|t| t.parse::<f64>().ok())
        .sum();
    ticks / 100.0
}

/// One echo round trip; false when the echo differs.
async fn exchange(ws: &mut WebSocket<Counted>, payload: &Bytes) -> anyhow::Result<bool> {
    ws.send(Frame::text(payload.clone())).await?;
    loop {
        let frame = ws.next_frame().await?;
        match frame.opcode() {
            OpCode::Text | OpCode::Binary => return Ok(frame.payload() == payload),
            OpCode::Close => bail!("closed by the server"),
            _ => {}
        }
    }
}

async fn load(
    setup: Arc<Setup>,
    conns: usize,
    duration: Duration,
    size: usize,
) -> anyhow::Result<()> {
    let payloads = Arc::new(payloads(size, 64));
    let mut sockets = Vec::new();
    for _ in 0..conns {
        sockets.push(setup.open().await?);
    }
    let (read0, written0) = (
        setup.read.load(Ordering::Relaxed),
        setup.written.load(Ordering::Relaxed),
    );
    let (cpu0, start) = (cpu_secs(), Instant::now());
    let deadline = start + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for (i, mut ws) in sockets.into_iter().enumerate() {
        let payloads = payloads.clone();
        tasks.spawn(async move {
            let (mut messages, mut errors) = (0u64, 0u64);
            let mut k = i;
            while Instant::now() < deadline {
                match exchange(&mut ws, &payloads[k % payloads.len()]).await {
                    Ok(true) => messages += 1,
                    Ok(false) => errors += 1,
                    Err(_) => {
                        errors += 1;
                        break;
                    }
                }
                k += 1;
            }
            let _ = ws.close().await;
            (messages, errors)
        });
    }
    let (mut messages, mut errors) = (0u64, 0u64);
    while let Some(r) = tasks.join_next().await {
        let (m, e) = r?;
        messages += m;
        errors += e;
    }
    let (elapsed, cpu) = (start.elapsed().as_secs_f64(), cpu_secs() - cpu0);
    let per = |v: u64| v as f64 / messages.max(1) as f64;
    let up = per(setup.written.load(Ordering::Relaxed) - written0);
    let down = per(setup.read.load(Ordering::Relaxed) - read0);
    let ext = agreed_extensions(&setup.addr, setup.compress).await?;
    println!(
        "{}",
        serde_json::json!({
            "messages": messages,
            "messages_per_sec": messages as f64 / elapsed,
            "cpu_secs": cpu,
            "errors": { "total": errors },
            "size": size,
            "wire_up_per_msg": up,
            "wire_down_per_msg": down,
            "extensions": ext,
        })
    );
    Ok(())
}

async fn hold(setup: Arc<Setup>, n: usize, duration: Duration) -> anyhow::Result<()> {
    let gate = Arc::new(tokio::sync::Semaphore::new(200));
    let mut tasks = tokio::task::JoinSet::new();
    let hello = Bytes::from_static(&[b'x'; 64]);
    for _ in 0..n {
        let (setup, gate, hello) = (setup.clone(), gate.clone(), hello.clone());
        tasks.spawn(async move {
            let permit = gate.acquire_owned().await?;
            let mut ws = setup.open().await?;
            if !exchange(&mut ws, &hello).await? {
                bail!("the echo differs");
            }
            drop(permit);
            anyhow::Ok(ws)
        });
    }
    let mut held = Vec::with_capacity(n);
    while let Some(r) = tasks.join_next().await {
        held.push(r?.context("opening a connection")?);
    }
    let ext = agreed_extensions(&setup.addr, setup.compress).await?;
    eprintln!("holding {} (Sec-WebSocket-Extensions: {ext})", held.len());
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = tokio::time::sleep(duration) => {}
    }
    println!(
        "{}",
        serde_json::json!({
            "messages": held.len(),
            "errors": { "total": 0 },
            "extensions": ext,
        })
    );
    Ok(())
}

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> anyhow::Result<T> {
    match args.iter().position(|a| a == name) {
        None => Ok(default),
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("{name} needs a value")),
    }
}

async fn run(args: Vec<String>) -> anyhow::Result<()> {
    let (Some(url), Some(mode)) = (args.get(1), args.get(2)) else {
        bail!(
            "usage: ws_deflate_load URL load|hold [N] [-c C] [-d SECS] [-s SIZE] [--compression off]"
        );
    };
    let addr = url
        .strip_prefix("ws://")
        .and_then(|r| r.split('/').next())
        .context("the URL must be ws://HOST:PORT/…")?
        .to_string();
    let setup = Arc::new(Setup {
        url: url.clone(),
        addr,
        compress: arg(&args, "--compression", "on".to_string())? != "off",
        read: Arc::new(AtomicU64::new(0)),
        written: Arc::new(AtomicU64::new(0)),
    });
    let duration = Duration::from_secs_f64(arg(&args, "-d", 5.0)?);
    match mode.as_str() {
        "load" => {
            let conns = arg(&args, "-c", 20)?;
            let size = arg(&args, "-s", 65536)?;
            load(setup, conns, duration, size).await
        }
        "hold" => {
            let n = args.get(3).and_then(|v| v.parse().ok()).context("hold N")?;
            let limit = Duration::from_secs_f64(arg(&args, "-d", 300.0)?);
            hold(setup, n, limit).await
        }
        other => bail!("unknown mode {other}: load or hold"),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    if let Err(e) = run(std::env::args().collect()).await {
        eprintln!("ws_deflate_load: {e:#}");
        std::process::exit(1);
    }
}
