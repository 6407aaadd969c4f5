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
//! * `--threshold N` — messages shorter than N bytes are sent uncompressed
//!   (yawc's `compression_threshold`); default 0.
//! * `--buffer N` — bytes of socket read and write buffer a connection
//!   starts with and returns to (yawc's default is 8 KiB each).
//! * `--max-message N` — largest message, whole (fragments added up) and
//!   inflated, default 1 MiB as in duplex; anything larger gets close 1009.
//! * `--handshake own|yawc` — `own` (the default, and the way duplex should
//!   do it) answers the handshake here: the offers are read as RFC 7692
//!   §7.1 says (a list of offers, the first acceptable one wins; unknown or
//!   repeated parameters and `server_max_window_bits=8` decline an offer;
//!   `client_max_window_bits` only answered when offered) and yawc is handed
//!   the upgraded stream with the agreed parameters
//!   (`WebSocket::from_stream_with_extensions`). `yawc` uses yawc's own
//!   `WebSocket::upgrade_with_options`, whose negotiation takes only a single
//!   offer and answers parameters the client did not offer.

use std::str::FromStr;
use std::sync::Arc;

use base64::Engine;
use futures_util::SinkExt;
use http_body_util::Empty;
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use sha1::{Digest, Sha1};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use yawc::{CompressionLevel, DeflatePool, OpCode, Options, Role, WebSocket, WebSocketError};

#[path = "common/yawc_fail.rs"]
mod yawc_fail;
use yawc_fail::fail;

/// What the server agrees to in permessage-deflate (`None`: no compression).
#[derive(Clone, Copy)]
struct Policy {
    /// Impose `server_no_context_takeover` (the compressor is pooled).
    server_no_takeover: bool,
    /// Impose `client_no_context_takeover` (the inflater is pooled).
    client_no_takeover: bool,
    /// Largest window either side may use, 9–15.
    window_bits: u8,
}

/// The `Sec-WebSocket-Extensions` answer to a client's offers (RFC 7692
/// §5, §7.1): the first permessage-deflate offer this server can honour,
/// or `None` to answer without the extension.
fn agree<'a>(offers: impl Iterator<Item = &'a str>, policy: Policy) -> Option<String> {
    offers
        .flat_map(|v| v.split(','))
        .find_map(|offer| answer(offer, policy))
}

fn answer(offer: &str, policy: Policy) -> Option<String> {
    let mut parts = offer.split(';').map(str::trim);
    if !parts.next()?.eq_ignore_ascii_case("permessage-deflate") {
        return None;
    }
    let (mut server_nct, mut client_nct) = (false, false);
    let (mut server_bits, mut client_bits): (Option<u8>, Option<Option<u8>>) = (None, None);
    for p in parts {
        let (name, value) = match p.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim().trim_matches('"'))),
            None => (p, None),
        };
        let bits = |v: Option<&str>| v?.parse::<u8>().ok().filter(|b| (8..=15).contains(b));
        // Each parameter at most once, with a valid value, or the offer is
        // declined.
        match name.to_ascii_lowercase().as_str() {
            "server_no_context_takeover" if value.is_none() && !server_nct => server_nct = true,
            "client_no_context_takeover" if value.is_none() && !client_nct => client_nct = true,
            "server_max_window_bits" if server_bits.is_none() => server_bits = Some(bits(value)?),
            "client_max_window_bits" if client_bits.is_none() => {
                client_bits = Some(match value {
                    None => None,
                    v => Some(bits(v)?),
                })
            }
            _ => return None,
        }
    }
    let mut out = String::from("permessage-deflate");
    if server_nct || policy.server_no_takeover {
        out.push_str("; server_no_context_takeover");
    }
    if client_nct || policy.client_no_takeover {
        out.push_str("; client_no_context_takeover");
    }
    // zlib cannot deflate with a 256-byte window (it uses 512 instead), so
    // an offer that asks for 8 bits is declined.
    match server_bits {
        Some(8) => return None,
        Some(b) => out.push_str(&format!(
            "; server_max_window_bits={}",
            b.min(policy.window_bits)
        )),
        None if policy.window_bits < 15 => {
            out.push_str(&format!("; server_max_window_bits={}", policy.window_bits))
        }
        None => {}
    }
    // Only answered when offered; the inflater takes the window answered
    // here (15 when absent), which must be at least what the client uses.
    if let Some(offered) = client_bits {
        let b = offered.unwrap_or(15).min(policy.window_bits);
        if b < 15 {
            out.push_str(&format!("; client_max_window_bits={b}"));
        }
    }
    Some(out)
}

/// RFC 6455 §4.2.2: base64(SHA-1(key + GUID)).
fn accept_key(key: &[u8]) -> String {
    let mut sha = Sha1::new();
    sha.update(key);
    sha.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    base64::engine::general_purpose::STANDARD.encode(sha.finalize())
}

/// Everything a connection is served with, built once.
struct Server {
    options: Options,
    policy: Option<Policy>,
    /// Use yawc's `upgrade_with_options` instead of answering here.
    stock: bool,
}

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

/// The options every connection is upgraded with, and what the server
/// agrees to, built once.
fn server(args: &[String]) -> Server {
    let stock = flag(args, "--handshake", "own".to_string()) == "yawc";
    let compression: String = flag(args, "--compression", "on".to_string());
    let bits: u8 = flag(args, "--window-bits", 15);
    let policy = match compression.as_str() {
        "off" => None,
        mode => Some(Policy {
            server_no_takeover: mode != "takeover",
            client_no_takeover: mode == "on",
            window_bits: bits.clamp(9, 15),
        }),
    };
    Server {
        options: options(args),
        policy,
        stock,
    }
}

/// yawc's options for every connection.
fn options(args: &[String]) -> Options {
    let compression: String = flag(args, "--compression", "on".to_string());
    let max_message: usize = flag(args, "--max-message", 1 << 20);
    let buffer: usize = flag(args, "--buffer", 0);
    let bits: u8 = flag(args, "--window-bits", 15);
    let level: u32 = flag(args, "--level", 1);
    let threshold: usize = flag(args, "--threshold", 0);
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
    if threshold > 0 {
        o = o.with_compression_threshold(threshold);
    }
    if bits < 15 {
        o = o
            .with_server_max_window_bits(bits)
            .with_client_max_window_bits(bits);
    }
    o
}

async fn echo<S: AsyncRead + AsyncWrite + Unpin>(mut ws: WebSocket<S>) {
    loop {
        let frame = match ws.next_frame().await {
            Ok(frame) => frame,
            Err(e) => return fail(&mut ws, e).await,
        };
        // yawc accepts close frames longer than a control frame may be
        // (125 bytes) and has queued an answer: drop the connection instead
        // of sending it (Autobahn 7.3.6).
        if frame.opcode() == OpCode::Close && frame.payload().len() > 125 {
            return;
        }
        if matches!(frame.opcode(), OpCode::Text | OpCode::Binary) && ws.send(frame).await.is_err()
        {
            return;
        }
        // yawc answers pings and close frames itself; its answer to a close
        // goes out on the next read, which then ends with `ConnectionClosed`.
    }
}

async fn handle(
    mut req: Request<Incoming>,
    server: Arc<Server>,
) -> Result<Response<Empty<Bytes>>, WebSocketError> {
    if server.stock {
        let (response, fut) = WebSocket::upgrade_with_options(&mut req, server.options.clone())?;
        tokio::spawn(async move {
            if let Ok(ws) = fut.await {
                echo(ws).await;
            }
        });
        return Ok(response);
    }
    let mut response = Response::new(Empty::new());
    let Some(key) = req.headers().get(header::SEC_WEBSOCKET_KEY) else {
        *response.status_mut() = StatusCode::BAD_REQUEST;
        return Ok(response);
    };
    let accept = accept_key(key.as_bytes());
    let agreed = server.policy.and_then(|policy| {
        let offers = req.headers().get_all(header::SEC_WEBSOCKET_EXTENSIONS);
        agree(offers.iter().filter_map(|v| v.to_str().ok()), policy)
    });
    let on_upgrade = hyper::upgrade::on(&mut req);
    let h = response.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(
        header::SEC_WEBSOCKET_ACCEPT,
        HeaderValue::from_str(&accept).expect("base64"),
    );
    if let Some(a) = &agreed {
        h.insert(
            header::SEC_WEBSOCKET_EXTENSIONS,
            HeaderValue::from_str(a).expect("ASCII"),
        );
    }
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let io = TokioIo::new(upgraded);
        let options = server.options.clone();
        if let Ok(ws) =
            WebSocket::from_stream_with_extensions(io, Role::Server, agreed.as_deref(), options)
        {
            echo(ws).await;
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
    let server = Arc::new(server(&args));
    let listener = TcpListener::bind(&addr).await?;
    println!("listening {}", listener.local_addr()?.port());
    loop {
        let (stream, _) = listener.accept().await?;
        let server = server.clone();
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            let service = service_fn(move |req| handle(req, server.clone()));
            let conn = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            let _ = conn.await;
        });
    }
}
