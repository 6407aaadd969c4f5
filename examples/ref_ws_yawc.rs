//! Reference WebSocket echo server on yawc (upgraded through hyper, as
//! duplex's own server is), with permessage-deflate (RFC 7692), for the
//! side-by-side comparison in `scripts/bench-compare.sh` and the Autobahn
//! runs of `scripts/autobahn-ws-eval.sh`.
//!
//! ```text
//! cargo run --release --example ref_ws_yawc -- 127.0.0.1:0
//! cargo run --release --example ref_ws_yawc -- 127.0.0.1:0 --compression takeover
//! ```
//!
//! Prints `listening PORT` once bound. Options (each one what a duplex flag
//! would set):
//!
//! * `--compression off|on|client-takeover|takeover` — `on` (the default)
//!   accepts a client's permessage-deflate offer and imposes no context
//!   takeover in both directions, with deflate state lent per message from
//!   a pool shared by every connection; `client-takeover` imposes it only
//!   on what the server sends (its compressor comes from the pool) and lets
//!   the client keep its context, so every connection keeps an inflater
//!   (a window of 2^bits bytes plus its state); `takeover` keeps a
//!   compressor and an inflater per connection for its whole life (best
//!   ratio, a few hundred KiB per connection); `off` never answers an
//!   offer.
//! * `--window-bits N` (9–15) — the largest LZ77 window this server
//!   accepts for either direction (`server_max_window_bits` and
//!   `client_max_window_bits`); default: whatever the client offers.
//! * `--level N` (0–9) — deflate level of what the server sends; default 1.
//! * `--buffer N` — bytes of socket read and write buffer a connection
//!   starts with and returns to (yawc's default is 8 KiB each).
//! * `--max-message N` — largest message, whole (fragments added up) and
//!   inflated, default 1 MiB as in duplex; anything larger gets close 1009.

use std::str::FromStr;

use http_body_util::Empty;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use yawc::{CompressionLevel, DeflatePool, OpCode, Options, WebSocket, WebSocketError};

/// Reads `--name VALUE` from the command line, or `default`.
fn flag<T: FromStr>(args: &[String], name: &str, default: T) -> T {
    match args.iter().position(|a| a == name) {
        None => default,
        Some(i) => match args.get(i + 1).map(|v| v.parse()) {
            Some(Ok(v)) => v,
            _ => {
                eprintln!("ref_ws_yawc: {name} needs a valid value");
                std::process::exit(2);
            }
        },
    }
}

/// The options every connection is upgraded with, built once.
fn options(args: &[String]) -> Options {
    let compression: String = flag(args, "--compression", "on".to_string());
    let max_message: usize = flag(args, "--max-message", 1 << 20);
    let buffer: usize = flag(args, "--buffer", 0);
    let bits: u8 = flag(args, "--window-bits", 0);
    let level: u32 = flag(args, "--level", 1);
    // yawc's limits are exclusive: one more than the largest message allowed.
    let mut o = Options::default()
        .with_limits(max_message + 1, max_message + 1)
        .with_utf8();
    if buffer > 0 {
        o = o
            .with_read_buffer_capacity(buffer)
            .with_write_buffer_capacity(buffer);
    }
    match compression.as_str() {
        "off" => return o.without_compression(),
        "on" => {
            o = o
                .with_compression_level(CompressionLevel::new(level))
                .server_no_context_takeover()
                .client_no_context_takeover()
                // Sized for the messages deflated at one moment (a few per
                // worker thread), not for the connections.
                .with_deflate_pool(DeflatePool::new(8));
        }
        "client-takeover" => {
            o = o
                .with_compression_level(CompressionLevel::new(level))
                .server_no_context_takeover()
                .with_deflate_pool(DeflatePool::new(8));
        }
        "takeover" => o = o.with_compression_level(CompressionLevel::new(level)),
        other => {
            eprintln!(
                "ref_ws_yawc: --compression {other}: use off, on, client-takeover or takeover"
            );
            std::process::exit(2);
        }
    }
    if bits > 0 {
        o = o
            .with_server_max_window_bits(bits)
            .with_client_max_window_bits(bits);
    }
    o
}

async fn echo(mut ws: WebSocket<yawc::HttpStream>) -> Result<(), WebSocketError> {
    loop {
        let frame = ws.next_frame().await?;
        match frame.opcode() {
            OpCode::Text | OpCode::Binary => {
                futures_util::SinkExt::send(&mut ws, frame).await?;
            }
            // yawc answers pings and close frames itself; its answer to a
            // close goes out on the next read, which then ends the loop
            // with `ConnectionClosed`.
            _ => {}
        }
    }
}

async fn handle(
    mut req: Request<Incoming>,
    options: Options,
) -> Result<Response<Empty<Bytes>>, WebSocketError> {
    let (response, fut) = WebSocket::upgrade_with_options(&mut req, options)?;
    tokio::spawn(async move {
        if let Ok(ws) = fut.await {
            let _ = echo(ws).await;
        }
    });
    Ok(response)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let addr = args
        .get(1)
        .filter(|a| !a.starts_with("--"))
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:0".into());
    let options = options(&args);
    let listener = TcpListener::bind(&addr).await?;
    println!("listening {}", listener.local_addr()?.port());
    loop {
        let (stream, _) = listener.accept().await?;
        let options = options.clone();
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            let service = service_fn(move |req| handle(req, options.clone()));
            let conn = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            let _ = conn.await;
        });
    }
}
