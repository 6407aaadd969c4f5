//! Autobahn|Testsuite echo client on yawc, offering permessage-deflate: the
//! client half of the WebSocket implementation comparison (BENCHMARKS.md,
//! "Choosing the WebSocket implementation"). Drives a fuzzing server
//! (`kosoku -m fuzzingserver`) through every case it offers, echoing each
//! text and binary message back, then asks it to write its reports.
//!
//! ```text
//! kosoku -m fuzzingserver 127.0.0.1:9001 -o reports &
//! cargo run --release --example autobahn_client_yawc -- 127.0.0.1:9001
//! ```
//!
//! It offers `permessage-deflate; client_max_window_bits=15;
//! client_no_context_takeover`, so that the fuzzing server can ask for the
//! window sizes and context modes of cases 13.x; `--compression off` offers
//! no extension.

use std::time::Duration;

use anyhow::{Context, bail};
use tokio::net::TcpStream;
use yawc::{CompressionLevel, OpCode, Options, WebSocket};

#[path = "common/yawc_fail.rs"]
mod yawc_fail;
use yawc_fail::fail;

/// The agent name the reports are filed under.
const AGENT: &str = "yawc";
/// Connect and handshake timeout of every connection.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Longest a single case may take (the 9.x cases move 16 MiB messages).
const CASE_TIMEOUT: Duration = Duration::from_secs(120);
/// Largest message accepted (the 9.x cases send 16 MiB).
const MAX_MESSAGE: usize = 20_000_000;

async fn open(addr: &str, target: &str, compress: bool) -> anyhow::Result<WebSocket<TcpStream>> {
    let tcp = tokio::time::timeout(TIMEOUT, TcpStream::connect(addr))
        .await
        .context("connect timed out")??;
    tcp.set_nodelay(true)?;
    let mut options = Options::default()
        .with_limits(MAX_MESSAGE, MAX_MESSAGE)
        .with_utf8();
    if compress {
        // Offer what a browser offers and more: `client_max_window_bits` and
        // `client_no_context_takeover` let the fuzzing server ask for a
        // smaller window and for no context takeover (cases 13.2–13.7).
        options = options
            .with_compression_level(CompressionLevel::new(1))
            .client_no_context_takeover()
            .with_client_max_window_bits(15);
    }
    let url = format!("ws://{addr}{target}");
    let ws = WebSocket::handshake(url.parse()?, tcp, options);
    Ok(tokio::time::timeout(TIMEOUT, ws)
        .await
        .context("handshake timed out")??)
}

/// Echoes every data message until the server closes. Errors are part of
/// the test (the fuzzing server sends invalid frames on purpose): they end
/// the case, not the run.
async fn echo(addr: &str, target: &str, compress: bool) -> anyhow::Result<()> {
    let mut ws = open(addr, target, compress).await?;
    // A close frame is answered by yawc on the next read, which then
    // fails with `ConnectionClosed`.
    loop {
        let frame = match ws.next_frame().await {
            Ok(frame) => frame,
            Err(e) => {
                fail(&mut ws, e).await;
                return Ok(());
            }
        };
        // A close frame longer than 125 bytes: drop, do not answer it.
        if frame.opcode() == OpCode::Close && frame.payload().len() > 125 {
            return Ok(());
        }
        if matches!(frame.opcode(), OpCode::Text | OpCode::Binary)
            && futures_util::SinkExt::send(&mut ws, frame).await.is_err()
        {
            return Ok(());
        }
    }
}

/// Reads the single text message the server sends on `target`.
async fn read_text(addr: &str, target: &str) -> anyhow::Result<String> {
    let mut ws = open(addr, target, false).await?;
    let text = tokio::time::timeout(TIMEOUT, async {
        loop {
            let frame = ws.next_frame().await?;
            match frame.opcode() {
                OpCode::Text => return Ok(frame.as_str().to_string()),
                OpCode::Close => bail!("{target}: closed without a text message"),
                _ => {}
            }
        }
    })
    .await
    .with_context(|| format!("{target}: no answer within {TIMEOUT:?}"))??;
    Ok(text)
}

async fn run(addr: &str, compress: bool) -> anyhow::Result<()> {
    let count: u32 = read_text(addr, "/getCaseCount")
        .await?
        .trim()
        .parse()
        .context("the case count is not a number")?;
    for case in 1..=count {
        println!("case {case}/{count}");
        let target = format!("/runCase?case={case}&agent={AGENT}");
        match tokio::time::timeout(CASE_TIMEOUT, echo(addr, &target, compress)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("case {case}: {e:#}"),
            Err(_) => eprintln!("case {case}: still running after {CASE_TIMEOUT:?}; moving on"),
        }
    }
    let mut ws = open(addr, &format!("/updateReports?agent={AGENT}"), false).await?;
    let _ = tokio::time::timeout(TIMEOUT, async {
        while let Ok(f) = ws.next_frame().await {
            if f.opcode() == OpCode::Close {
                break;
            }
        }
    })
    .await;
    println!("reports updated for {count} cases");
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(addr) = args.get(1) else {
        eprintln!("usage: autobahn_client_yawc HOST:PORT [--compression off]");
        std::process::exit(2);
    };
    let compress = !args
        .windows(2)
        .any(|w| w[0] == "--compression" && w[1] == "off");
    if let Err(e) = run(addr, compress).await {
        eprintln!("autobahn_client_yawc: {e:#}");
        std::process::exit(1);
    }
}
