//! Autobahn|Testsuite echo client built on duplex's WebSocket client
//! ([`duplex::client::ws::connect`]): drives a fuzzing server (Autobahn's
//! `wstest -m fuzzingserver` or `kosoku -m fuzzingserver`) through every case
//! it offers, echoing each text and binary message back, then asks it to
//! write its reports.
//!
//! ```text
//! kosoku -m fuzzingserver 127.0.0.1:9001 -o reports &
//! cargo run --example autobahn_client -- 127.0.0.1:9001
//! ```
//!
//! Prints one line per case (`case N/TOTAL`) and exits 0 once the reports
//! are updated; a failure to talk to the fuzzing server exits 1.

use std::time::Duration;

use anyhow::{Context, bail};
use duplex::client::ws::{Handshake, connect};
use duplex::endpoint::Endpoint;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

/// The agent name the reports are filed under.
const AGENT: &str = "duplex";
/// Connect and handshake timeout of every connection.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Longest a single case may take (the 9.x cases move 16 MiB messages).
const CASE_TIMEOUT: Duration = Duration::from_secs(120);

async fn open(
    addr: &str,
    target: &str,
) -> anyhow::Result<tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>> {
    let url: Endpoint = format!("ws://{addr}{target}")
        .parse()
        .with_context(|| format!("bad address {addr}"))?;
    let Endpoint::Ws(t) = &url else {
        bail!("not a ws:// URL: {url}");
    };
    connect(&url, t, &Handshake::default(), TIMEOUT).await
}

/// Echoes every data message until the server closes. Errors are part of
/// the test (the fuzzing server sends invalid frames on purpose): they end
/// the case, not the run.
async fn echo(addr: &str, target: &str) -> anyhow::Result<()> {
    let mut ws = open(addr, target).await?;
    while let Some(m) = ws.next().await {
        match m {
            Ok(m @ (Message::Text(_) | Message::Binary(_))) => {
                if ws.send(m).await.is_err() {
                    break;
                }
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    Ok(())
}

/// Reads the single text message the server sends on `target`.
async fn read_text(addr: &str, target: &str) -> anyhow::Result<String> {
    let mut ws = open(addr, target).await?;
    let text = tokio::time::timeout(TIMEOUT, async {
        while let Some(m) = ws.next().await {
            match m? {
                Message::Text(t) => return Ok(t.to_string()),
                Message::Close(_) => break,
                _ => {}
            }
        }
        bail!("{target}: closed without a text message")
    })
    .await
    .with_context(|| format!("{target}: no answer within {TIMEOUT:?}"))??;
    let _ = tokio::time::timeout(TIMEOUT, ws.close(None)).await;
    Ok(text)
}

async fn run(addr: &str) -> anyhow::Result<()> {
    let count: u32 = read_text(addr, "/getCaseCount")
        .await?
        .trim()
        .parse()
        .context("the case count is not a number")?;
    for case in 1..=count {
        println!("case {case}/{count}");
        let target = format!("/runCase?case={case}&agent={AGENT}");
        match tokio::time::timeout(CASE_TIMEOUT, echo(addr, &target)).await {
            Ok(Ok(())) => {}
            // A refused handshake is a result of the case, not of the run.
            Ok(Err(e)) => eprintln!("case {case}: {e:#}"),
            Err(_) => eprintln!("case {case}: still running after {CASE_TIMEOUT:?}; moving on"),
        }
    }
    let mut ws = open(addr, &format!("/updateReports?agent={AGENT}")).await?;
    let _ = tokio::time::timeout(TIMEOUT, async {
        while let Some(Ok(m)) = ws.next().await {
            if m.is_close() {
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
    let Some(addr) = std::env::args().nth(1) else {
        eprintln!("usage: autobahn_client HOST:PORT (the fuzzing server)");
        std::process::exit(2);
    };
    if let Err(e) = run(&addr).await {
        eprintln!("autobahn_client: {e:#}");
        std::process::exit(1);
    }
}
