//! Autobahn|Testsuite echo client built on duplex's dialer and WebSocket
//! stack ([`duplex::dial`], [`duplex::websocket`]): drives a fuzzing server
//! (Autobahn's `wstest -m fuzzingserver` or `kosoku -m fuzzingserver`)
//! through every case it offers, echoing each text and binary message back,
//! then asks it to write its reports.
//!
//! ```text
//! kosoku -m fuzzingserver 127.0.0.1:9001 -o reports &
//! cargo run --example autobahn_client -- 127.0.0.1:9001
//! cargo run --example autobahn_client -- 127.0.0.1:9001 --no-compress
//! cargo run --example autobahn_client -- 127.0.0.1:9001 --parallel 2
//! ```
//!
//! Every connection offers permessage-deflate as `duplex connect
//! --compress` does (`--no-compress`: no offer). `--parallel N` runs up to
//! N cases at once (each case is a connection of its own; the fuzzing
//! server grades each by itself). Prints one line per case (`case
//! N/TOTAL`) and exits 0 once the reports are updated; a failure to talk
//! to the fuzzing server exits 1.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use duplex::dial::{BoxStream, Connection, DialOptions, Dialer};
use duplex::endpoint::Endpoint;
use duplex::websocket::{ClientOptions, Incoming, Prefixed, WebSocket};

/// The agent name the reports are filed under.
const AGENT: &str = "duplex";
/// Connect and handshake timeout of every connection.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Longest a single case may take (the 9.x cases move 16 MiB messages).
const CASE_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a close may wait for the peer.
const CLOSE_WAIT: Duration = Duration::from_secs(2);
/// Largest message accepted (the 9.x cases send 16 MiB).
const MAX_MESSAGE: usize = 20_000_000;

type Ws = WebSocket<Prefixed<BoxStream>>;

async fn open(dialer: &Dialer, addr: &str, target: &str) -> anyhow::Result<Ws> {
    let url: Endpoint = format!("ws://{addr}{target}")
        .parse()
        .with_context(|| format!("bad address {addr}"))?;
    match dialer.dial(&url).await? {
        Connection::WebSocket(h) => Ok(h.ws),
        _ => bail!("not a WebSocket: {url}"),
    }
}

/// Echoes every data message until the server closes. Errors are part of
/// the test (the fuzzing server sends invalid frames on purpose): they end
/// the case, not the run.
async fn echo(dialer: &Dialer, addr: &str, target: &str) -> anyhow::Result<()> {
    let mut ws = open(dialer, addr, target).await?;
    loop {
        match ws.recv().await {
            Ok(Incoming::Message(m)) => {
                if ws.send(m).await.is_err() {
                    return Ok(());
                }
            }
            Ok(Incoming::Pong) => {}
            Ok(Incoming::Close(_)) => {
                ws.finish(CLOSE_WAIT).await;
                return Ok(());
            }
            Err(e) => {
                ws.fail(&e, CLOSE_WAIT).await;
                return Ok(());
            }
        }
    }
}

/// Reads the single text message the server sends on `target`.
async fn read_text(dialer: &Dialer, addr: &str, target: &str) -> anyhow::Result<String> {
    let mut ws = open(dialer, addr, target).await?;
    let text = tokio::time::timeout(TIMEOUT, async {
        loop {
            match ws.recv().await? {
                Incoming::Message(m) => return Ok(String::from_utf8_lossy(&m.payload).into_owned()),
                Incoming::Close(_) => bail!("{target}: closed without a text message"),
                Incoming::Pong => {}
            }
        }
    })
    .await
    .with_context(|| format!("{target}: no answer within {TIMEOUT:?}"))??;
    Ok(text)
}

async fn run(addr: &str, compress: bool, parallel: usize) -> anyhow::Result<()> {
    let dialer = Arc::new(Dialer::new(DialOptions {
        timeout: TIMEOUT,
        ca: None,
        insecure: false,
        websocket: ClientOptions::new(MAX_MESSAGE, compress),
    }));
    let count: u32 = read_text(&dialer, addr, "/getCaseCount")
        .await?
        .trim()
        .parse()
        .context("the case count is not a number")?;
    let slots = Arc::new(tokio::sync::Semaphore::new(parallel.max(1)));
    let mut cases = tokio::task::JoinSet::new();
    for case in 1..=count {
        let slot = slots.clone().acquire_owned().await?;
        println!("case {case}/{count}");
        let (dialer, addr) = (dialer.clone(), addr.to_string());
        cases.spawn(async move {
            let target = format!("/runCase?case={case}&agent={AGENT}");
            match tokio::time::timeout(CASE_TIMEOUT, echo(&dialer, &addr, &target)).await {
                Ok(Ok(())) => {}
                // A refused handshake is a result of the case, not of the run.
                Ok(Err(e)) => eprintln!("case {case}: {e:#}"),
                Err(_) => eprintln!("case {case}: still running after {CASE_TIMEOUT:?}; moving on"),
            }
            drop(slot);
        });
    }
    while cases.join_next().await.is_some() {}
    let target = format!("/updateReports?agent={AGENT}");
    let mut ws = open(&dialer, addr, &target).await?;
    let _ = tokio::time::timeout(TIMEOUT, async {
        while let Ok(i) = ws.recv().await {
            if let Incoming::Close(_) = i {
                ws.finish(CLOSE_WAIT).await;
                break;
            }
        }
    })
    .await;
    println!("reports updated for {count} cases");
    Ok(())
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(addr) = args.get(1) else {
        eprintln!(
            "usage: autobahn_client HOST:PORT [--no-compress] [--parallel N] (the fuzzing server)"
        );
        std::process::exit(2);
    };
    let compress = !args.iter().any(|a| a == "--no-compress");
    let parallel = match args.iter().position(|a| a == "--parallel") {
        Some(i) => match args.get(i + 1).and_then(|n| n.parse().ok()) {
            Some(n) => n,
            None => {
                eprintln!("autobahn_client: --parallel takes a number");
                std::process::exit(2);
            }
        },
        None => 1,
    };
    if let Err(e) = run(addr, compress, parallel).await {
        eprintln!("autobahn_client: {e:#}");
        std::process::exit(1);
    }
}
