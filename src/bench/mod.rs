//! `duplex bench`: a load generator for echo servers and, with
//! `--request`, for the line services (random, daytime, counter).
//!
//! ```text
//! mod.rs        orchestration: open connections, run the workers, report
//! args.rs       option parsers and usage errors (exit 2)
//! transport.rs  connect / send / receive per transport (tcp, unix, udp, tls, ws, wss)
//! worker.rs     the per-connection loops: closed loop, open loop, connect rate; payloads, verification
//! plot.rs       the latency percentile curve as SVG (`--plot`)
//! report.rs     error counts, HDR histograms, the text summary and the JSON object
//! ```
//!
//! Modes: the closed loop (default: each connection keeps `--pipeline`
//! messages in flight), the open loop (`--rate R`: messages on a fixed
//! schedule, latency from the intended send time), `--connect-rate` (connect, one echo, close, again) and
//! `--hold N` (N idle connections, for memory measurements). Every echoed
//! payload is verified; any error makes the exit status 1.
//!
//! `--request TEXT` swaps the payload, not the modes: every message is TEXT
//! as one request and every reply is checked to be one non-empty line (or
//! datagram, or message) that is not `ERR …`; `--greeting` reads one reply
//! on each new connection before the first request.

pub mod args;
pub mod plot;
pub mod report;
pub mod transport;
pub mod worker;

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::cli::BenchArgs;
use crate::endpoint::{Endpoint, HostPort, WsTarget};
use crate::sys::raise_fd_limit;
use report::{Report, Setup, Tally};
use transport::{Conn, Connector, Tcp, Tls, Udp, Unix, Ws, Wss};
use worker::{Control, Deadline, Outcome, Pattern};

/// Connection attempts in flight at once while opening connections, so that
/// thousands of connections do not overflow the server's accept backlog.
const CONNECT_CONCURRENCY: usize = 128;

/// Runs the benchmark; `Ok(true)` when every message came back intact.
pub async fn run(args: BenchArgs) -> anyhow::Result<bool> {
    check(&args);
    match &args.url {
        Endpoint::Tcp(hp) => {
            drive(
                Tcp {
                    addrs: resolve(hp, &args.url).await?,
                },
                &args,
            )
            .await
        }
        Endpoint::Udp(hp) => {
            if args.greeting {
                args::usage_error(
                    "--greeting cannot be used with udp://: UDP has no connections, so a server sends no greeting",
                );
            }
            if let Some(r) = args
                .request
                .as_ref()
                .filter(|r| r.len() > args::MAX_UDP_SIZE)
            {
                args::usage_error(&format!(
                    "--request of {} bytes is larger than a UDP datagram can carry (at most {} bytes)",
                    r.len(),
                    args::MAX_UDP_SIZE
                ));
            }
            if args.size > args::MAX_UDP_SIZE {
                args::usage_error(&format!(
                    "-s {} is larger than a UDP datagram can carry (at most {} bytes)",
                    args.size,
                    args::MAX_UDP_SIZE
                ));
            }
            drive(
                Udp {
                    addrs: resolve(hp, &args.url).await?,
                },
                &args,
            )
            .await
        }
        Endpoint::Unix(path) => drive(Unix { path: path.clone() }, &args).await,
        Endpoint::Tls(hp) => {
            let addrs = resolve(hp, &args.url).await?;
            drive(tls(addrs, hp, &args)?, &args).await
        }
        Endpoint::Ws(target) => drive(ws(target, None, &args).await?, &args).await,
        Endpoint::Wss(target) => {
            let addrs = resolve(&target.addr, &args.url).await?;
            let tls = tls(addrs, &target.addr, &args)?;
            drive(Wss(ws(target, Some(tls), &args).await?), &args).await
        }
    }
}

fn tls(addrs: Vec<std::net::SocketAddr>, hp: &HostPort, args: &BenchArgs) -> anyhow::Result<Tls> {
    if args.insecure {
        eprintln!("duplex: --insecure: the server's certificate is NOT verified");
    }
    Tls::new(addrs, &hp.host_name(), args.ca.as_deref(), args.insecure)
}

async fn ws(target: &WsTarget, tls: Option<Tls>, args: &BenchArgs) -> anyhow::Result<Ws> {
    Ok(Ws {
        url: args.url.clone(),
        target: target.clone(),
        addrs: resolve(&target.addr, &args.url).await?,
        tls,
        // Requests are text messages, and so are the replies.
        text: args.text || args.request.is_some(),
        timeout: args.timeout,
    })
}

/// Combinations clap cannot check; each is a usage error (exit 2).
fn check(args: &BenchArgs) {
    if let Some(r) = &args.request {
        if r.contains(['\n', '\r']) {
            args::usage_error(
                "--request is one request: it cannot contain a line break (e.g. --request '1 6')",
            );
        }
        let batch = (r.len() + 1).saturating_mul(args.pipeline);
        if batch > args::MAX_BATCH {
            args::usage_error(&format!(
                "--request of {} bytes with --pipeline {} keeps {batch} bytes in flight per connection; the most is {} (64 MiB)",
                r.len(),
                args.pipeline,
                args::MAX_BATCH
            ));
        }
        return;
    }
    let batch = args.size.saturating_mul(args.pipeline);
    if batch > args::MAX_BATCH {
        args::usage_error(&format!(
            "-s {} with --pipeline {} keeps {batch} bytes in flight per connection; the most is {} (64 MiB)",
            args.size,
            args.pipeline,
            args::MAX_BATCH
        ));
    }
}

async fn resolve(hp: &HostPort, url: &Endpoint) -> anyhow::Result<Vec<std::net::SocketAddr>> {
    hp.resolve()
        .await
        .with_context(|| format!("cannot resolve {url}"))
}

async fn drive<K: Connector>(connector: K, args: &BenchArgs) -> anyhow::Result<bool> {
    let connector = Arc::new(connector);
    if let Some(n) = args.hold {
        return hold(connector, args, n).await;
    }
    let mode = if args.connect_rate {
        "connect"
    } else if args.rate.is_some() {
        "rate"
    } else {
        "closed"
    };
    let progress = std::io::stderr().is_terminal();

    // Closed loop: every connection is open before the clock starts.
    let (conns, mut tally) = if args.connect_rate {
        (Vec::new(), Tally::new())
    } else {
        let first = if args.greeting {
            First::Greeting
        } else {
            First::Nothing
        };
        let (conns, tally) =
            open_many(&connector, args.connections, args.timeout, first, args.text).await;
        if conns.is_empty() {
            anyhow::bail!("cannot connect to {}: {}", args.url, why(&*connector).await);
        }
        (conns, tally)
    };
    // Connect latencies of the setup are not part of the result.
    tally.connects = 0;
    tally.connect_latency = None;

    let start = Instant::now();
    let measure_from = start + args.warmup;
    let end = args
        .messages
        .is_none()
        .then(|| measure_from + args.duration);
    let pipeline = if args.connect_rate || args.rate.is_some() {
        1
    } else {
        args.pipeline
    };
    let mut ctl = Control::new(
        args.size,
        args.text,
        pipeline,
        args.timeout,
        measure_from,
        end,
        args.messages,
        progress,
    );
    if let Some(text) = &args.request {
        ctl = ctl.with_requests(
            worker::Requests::new(text, <K::Conn as Conn>::FRAMING, pipeline),
            args.greeting,
        );
    }
    let ctl = Arc::new(ctl);

    let mut workers = JoinSet::new();
    if args.connect_rate {
        for _ in 0..args.connections {
            workers.spawn(worker::connect_loop(connector.clone(), ctl.clone()));
        }
    } else if let Some(rate) = args.rate {
        // Connection i sends at start + (i + k·c) / rate: the connections
        // take turns, so the messages are evenly spaced overall too.
        let c = conns.len() as f64;
        for (i, conn) in conns.into_iter().enumerate() {
            let schedule = worker::Schedule {
                first: start + Duration::from_secs_f64(i as f64 / rate),
                every: Duration::from_secs_f64(c / rate),
            };
            workers.spawn(worker::open_loop(
                connector.clone(),
                conn,
                ctl.clone(),
                schedule,
            ));
        }
    } else {
        for conn in conns {
            workers.spawn(worker::closed_loop(connector.clone(), conn, ctl.clone()));
        }
    }
    let (done, finished) = tokio::sync::oneshot::channel::<()>();
    let ticker = progress.then(|| spawn_progress(ctl.clone(), args, start, finished));
    let ctrl_c = {
        let ctl = ctl.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                ctl.stop.store(true, Ordering::Relaxed);
            }
        })
    };

    let mut last = measure_from;
    while let Some(joined) = workers.join_next().await {
        let Outcome { tally: t, last: l } = joined.context("a bench worker failed")?;
        tally.merge(&t);
        if let Some(l) = l {
            last = last.max(l);
        }
    }
    ctrl_c.abort();
    let _ = done.send(());
    if let Some(t) = ticker {
        let _ = t.await;
    }

    let setup = Setup {
        url: args.url.to_string(),
        transport: args.url.scheme(),
        mode,
        connections: args.connections,
        size: args.request.as_ref().map_or(args.size, String::len),
        text: args.text,
        request: args.request.clone(),
        greeting: args.greeting,
        pipeline,
        rate: args.rate,
        warmup: args.warmup,
    };
    let report = Report::new(setup, &tally, last.saturating_duration_since(measure_from));
    if let Some(path) = &args.plot {
        let svg = plot::svg(&tally.latency, &report.plot_title());
        std::fs::write(path, svg)
            .with_context(|| format!("cannot write the plot to {}", path.display()))?;
    }
    print(&report, args.json);
    Ok(report.error_total() == 0 && report.messages > 0)
}

/// `--hold N`: open N connections, echo one message on each (so the server
/// has really accepted and served it), then keep them idle until `-d` passes
/// or Ctrl-C.
async fn hold<K: Connector>(connector: Arc<K>, args: &BenchArgs, n: usize) -> anyhow::Result<bool> {
    raise_fd_limit(n);
    let (conns, tally) = open_many(
        &connector,
        n,
        args.timeout,
        First::Echo(args.size),
        args.text,
    )
    .await;
    if conns.is_empty() {
        anyhow::bail!("cannot connect to {}: {}", args.url, why(&*connector).await);
    }
    tracing::info!(
        "holding {} connections to {} for {:?} (Ctrl-C ends sooner)",
        conns.len(),
        args.url,
        args.duration
    );
    let held = Instant::now();
    tokio::select! {
        _ = tokio::time::sleep(args.duration) => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    let held = held.elapsed();
    drop(conns);
    let setup = Setup {
        url: args.url.to_string(),
        transport: args.url.scheme(),
        mode: "hold",
        connections: n,
        size: args.size,
        text: args.text,
        request: None,
        greeting: false,
        pipeline: 1,
        rate: None,
        warmup: Duration::ZERO,
    };
    let report = Report::new(setup, &tally, held);
    print(&report, args.json);
    Ok(report.error_total() == 0 && tally.connects == n as u64)
}

/// Why no connection could be opened, from one more attempt.
async fn why<K: Connector>(connector: &K) -> String {
    match connector.connect().await {
        Err(e) => e.to_string(),
        Ok(_) => "every connection failed or timed out".into(),
    }
}

/// What a connection must do before it counts as open.
#[derive(Debug, Clone, Copy)]
enum First {
    Nothing,
    /// Carry one verified echo of this many bytes (`--hold`).
    Echo(usize),
    /// Deliver a good greeting (`--greeting`).
    Greeting,
}

/// Opens `n` connections, at most [`CONNECT_CONCURRENCY`] at a time, each
/// doing `first` before it counts as open. Failures are counted in the
/// returned tally.
async fn open_many<K: Connector>(
    connector: &Arc<K>,
    n: usize,
    timeout: Duration,
    first: First,
    text: bool,
) -> (Vec<K::Conn>, Tally) {
    let gate = Arc::new(Semaphore::new(CONNECT_CONCURRENCY));
    let mut tasks = JoinSet::new();
    for _ in 0..n {
        let connector = connector.clone();
        let gate = gate.clone();
        tasks.spawn(async move {
            let _permit = gate.acquire_owned().await.ok();
            let mut tally = Tally::new();
            let mut greeting = matches!(first, First::Greeting)
                .then(|| worker::ReplyReader::new(<K::Conn as Conn>::FRAMING, true));
            let mut conn = worker::open(&*connector, timeout, greeting.as_mut(), &mut tally).await;
            if let (Some(c), First::Echo(size)) = (&mut conn, first) {
                let pattern = Pattern::new(size, text);
                let mut rbuf = vec![0u8; size + 1];
                let mut deadline = Deadline::new(timeout);
                let expect = pattern.batch(0, size);
                if worker::exchange(
                    c,
                    expect,
                    size,
                    &mut rbuf,
                    &mut deadline,
                    timeout,
                    true,
                    &mut tally,
                    Instant::now(),
                )
                .await
                .is_err()
                {
                    conn = None;
                }
            }
            (conn, tally)
        });
    }
    let mut conns = Vec::with_capacity(n);
    let mut tally = Tally::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((conn, t)) => {
                tally.merge(&t);
                conns.extend(conn);
            }
            Err(e) => {
                tracing::debug!(error = %e, "a connect task failed");
                tally.errors.connect += 1;
            }
        }
    }
    (conns, tally)
}

fn print(report: &Report, json: bool) {
    if json {
        println!("{}", report.json());
    } else {
        print!("{}", report.text());
    }
}

/// The live progress line (stderr, terminals only).
fn spawn_progress(
    ctl: Arc<Control>,
    args: &BenchArgs,
    start: Instant,
    mut finished: tokio::sync::oneshot::Receiver<()>,
) -> tokio::task::JoinHandle<()> {
    use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
    let total = args.warmup + args.duration;
    let by_count = args.messages;
    let bar = match by_count {
        Some(n) => ProgressBar::with_draw_target(Some(n), ProgressDrawTarget::stderr()),
        None => ProgressBar::with_draw_target(
            Some(total.as_millis() as u64),
            ProgressDrawTarget::stderr(),
        ),
    };
    if let Ok(style) = ProgressStyle::with_template("{elapsed:>4} [{bar:30}] {msg}") {
        bar.set_style(style.progress_chars("=> "));
    }
    tokio::spawn(async move {
        let Some(p) = &ctl.progress else { return };
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        let (mut prev, mut prev_t) = (0u64, Instant::now());
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = &mut finished => break,
            }
            let now = Instant::now();
            let messages = p.messages.load(Ordering::Relaxed);
            let errors = p.errors.load(Ordering::Relaxed);
            let connects = p.connects.load(Ordering::Relaxed);
            let rate =
                (messages - prev) as f64 / now.duration_since(prev_t).as_secs_f64().max(1e-9);
            (prev, prev_t) = (messages, now);
            let phase = if now < ctl.measure_from {
                "warm-up "
            } else {
                ""
            };
            let mut msg = format!("{phase}{messages} messages  {rate:.0}/s  errors {errors}");
            if connects > 0 {
                msg.push_str(&format!("  connections {connects}"));
            }
            bar.set_message(msg);
            match by_count {
                Some(_) => bar.set_position(messages),
                None => bar.set_position(now.duration_since(start).as_millis() as u64),
            }
        }
        bar.finish_and_clear();
    })
}
