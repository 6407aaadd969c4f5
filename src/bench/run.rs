//! One load run: connectors for the targets, one worker per connection slot
//! (round-robin over the targets), the start gate, the server samples at
//! the edges of the measured window, and the report.

use std::future::Future;
use std::io::IsTerminal;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use tokio::task::JoinSet;

use super::control::{Control, Ctl, Times};
use super::probe::{self, Sample, ServerReport};
use super::progress;
use super::report::{Report, Results, Setup, TargetReport};
use super::settings::{Load, Mode, Payload, Sets};
use super::tally::Tally;
use super::transport::ws::{Ws, Wss};
use super::transport::{Connector, Dial, Tcp, Tls, Udp, Unix};
use super::worker::{Outcome, Slot};
use super::{closed, connect, hold, open};
use crate::cli::websocket_options;
use crate::dial::{DialOptions, Dialer};
use crate::endpoint::Endpoint;
use crate::sys::raise_fd_limit;

/// Runs the worker of `slot` to the end of the run.
async fn run_worker<K: Connector>(connector: Arc<K>, ctl: Ctl, slot: Slot) -> Outcome {
    match ctl.load.mode {
        Mode::Closed => closed::run(connector, ctl, slot).await,
        Mode::Rate => open::OpenLoop::run(connector, ctl, slot).await,
        Mode::Connect => connect::run(connector, ctl, slot).await,
        Mode::Hold => hold::run(connector, ctl, slot).await,
    }
}

/// One target's connector with its type erased, so that one run can mix
/// transports; the workers themselves stay generic.
trait Target: Send + Sync {
    fn spawn(&self, ctl: &Ctl, slot: Slot, set: &mut JoinSet<Outcome>);
    /// Why no connection could be opened, from one more attempt.
    fn why(&self) -> Pin<Box<dyn Future<Output = String> + Send + '_>>;
}

struct Runner<K>(Arc<K>);

impl<K: Connector> Target for Runner<K> {
    fn spawn(&self, ctl: &Ctl, slot: Slot, set: &mut JoinSet<Outcome>) {
        set.spawn(run_worker(self.0.clone(), ctl.clone(), slot));
    }

    fn why(&self) -> Pin<Box<dyn Future<Output = String> + Send + '_>> {
        Box::pin(async move {
            match self.0.connect().await {
                Err(e) => e.to_string(),
                Ok(_) => "every connection failed or timed out".into(),
            }
        })
    }
}

fn runner<K: Connector>(k: K) -> Box<dyn Target> {
    Box::new(Runner(Arc::new(k)))
}

/// The one dialer of a run: the reply timeout bounds each connect step,
/// TLS is set up once, and every WebSocket offers what `-H`, `--protocol`
/// and `--compress` say.
fn dialer(load: &Load) -> Dialer {
    let h = &load.handshake;
    // Echoes are as long as what was sent; a larger reply is a failure of
    // the server, counted by the checks, not a reason to drop the
    // connection before them.
    let max_message = (2 * load.size).max(1 << 20);
    Dialer::new(DialOptions {
        timeout: load.timeout,
        ca: load.ca.clone(),
        insecure: load.insecure,
        websocket: websocket_options(&h.headers, h.protocol.as_deref(), h.compress, max_message),
    })
}

/// The connector of one URL.
async fn connector(
    url: &Endpoint,
    dialer: &Arc<Dialer>,
    load: &Load,
) -> anyhow::Result<Box<dyn Target>> {
    let dial = Dial {
        dialer: dialer.clone(),
        target: dialer.target(url).await?,
    };
    // Requests are text messages, and so are the replies.
    let text = match load.payload {
        Payload::Echo { content } => content.is_text(),
        Payload::Request { .. } => true,
    };
    Ok(match url {
        Endpoint::Tcp(_) => runner(Tcp(dial)),
        Endpoint::Udp(_) => runner(Udp(dial)),
        Endpoint::Unix(path) => runner(Unix {
            dial,
            path: path.clone(),
        }),
        Endpoint::Tls(_) => runner(Tls(dial)),
        Endpoint::Ws(target) => runner(Ws {
            dial,
            target: target.clone(),
            text,
        }),
        Endpoint::Wss(target) => runner(Wss(Ws {
            dial,
            target: target.clone(),
            text,
        })),
    })
}

/// Reads the server, off the runtime's threads (it walks `/proc`).
async fn sample(pid: u32) -> anyhow::Result<Sample> {
    tokio::task::spawn_blocking(move || probe::sample(pid))
        .await
        .context("the server probe failed")?
        .with_context(|| format!("--server-pid {pid}"))
}

/// Runs the load and reports it.
pub async fn run(load: Load, sets: Sets) -> anyhow::Result<Report> {
    let dialer = Arc::new(dialer(&load));
    let mut targets = Vec::with_capacity(load.targets.len());
    for url in &load.targets {
        targets.push(connector(url, &dialer, &load).await?);
    }
    raise_fd_limit(load.connections);
    let pid = load.server_pid;
    let before = match pid {
        Some(pid) => Some(sample(pid).await?),
        None => None,
    };
    let progress = std::io::stderr().is_terminal();
    let ctl: Ctl = Arc::new(Control::new(load, progress));
    let mut set = JoinSet::new();
    for index in 0..ctl.load.connections {
        let target = index % targets.len();
        targets[target].spawn(&ctl, Slot { index, target }, &mut set);
    }
    let ctrl_c = {
        let ctl = ctl.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                ctl.stop.cancel();
            }
        })
    };
    ctl.all_arrived().await;
    let opens_first = ctl.load.ramp_up.is_none() && ctl.load.mode != Mode::Connect;
    if opens_first && ctl.opened() == 0 {
        ctl.stop.cancel();
        while set.join_next().await.is_some() {}
        ctrl_c.abort();
        let url = &ctl.load.targets[0];
        let why = targets[0].why().await;
        // The dialer's errors say whom they could not reach already.
        if why.starts_with("cannot connect to ") {
            anyhow::bail!("{why}");
        }
        anyhow::bail!("cannot connect to {url}: {why}");
    }
    // Without a warm-up the window starts when the gate opens: the first
    // sample is taken while every worker still waits at it. After a
    // warm-up a task takes it when the window starts.
    let at_gate = match pid {
        Some(pid) if ctl.load.warmup.is_zero() => Some(sample(pid).await?),
        _ => None,
    };
    let times = ctl.open_gate();
    if ctl.load.mode == Mode::Hold {
        let urls: Vec<String> = ctl.load.targets.iter().map(|t| t.to_string()).collect();
        tracing::info!(
            "holding {} connections to {} for {:?} (Ctrl-C ends sooner)",
            ctl.opened(),
            urls.join(" "),
            ctl.load.duration
        );
    }
    // On a thread of its own, so that busy workers cannot delay it.
    let first = pid.filter(|_| at_gate.is_none()).map(|pid| {
        tokio::task::spawn_blocking(move || {
            std::thread::sleep(times.measure_from.saturating_duration_since(Instant::now()));
            probe::sample(pid)
        })
    });
    let (done, finished) = tokio::sync::oneshot::channel::<()>();
    let ticker = progress.then(|| progress::spawn(ctl.clone(), times, finished));

    let mut outcomes = Vec::with_capacity(ctl.load.connections);
    while let Some(joined) = set.join_next().await {
        outcomes.push(joined.context("a bench worker failed")?);
    }
    let ended = Instant::now();
    let server = match (pid, at_gate, first) {
        (Some(pid), Some(from), _) => Some((pid, from, sample(pid).await?)),
        (Some(pid), None, Some(first)) if first.is_finished() => {
            let from = first
                .await
                .context("the server probe failed")?
                .with_context(|| format!("--server-pid {pid}"))?;
            Some((pid, from, sample(pid).await?))
        }
        (_, _, first) => {
            // The run ended before its window started (Ctrl-C in warm-up).
            first.inspect(|f| f.abort());
            None
        }
    };
    // Every connection closes only now: after the last sample.
    let keep: Vec<_> = outcomes.iter_mut().filter_map(|o| o.keep.take()).collect();
    drop(keep);
    ctrl_c.abort();
    let _ = done.send(());
    if let Some(t) = ticker {
        let _ = t.await;
    }
    let mut report = report(&ctl, &times, &outcomes, ended, sets);
    if let Some((pid, from, to)) = server {
        let held = (ctl.load.mode == Mode::Hold)
            .then(|| before.map(|b| (b, report.total.connects)))
            .flatten();
        report.server = Some(ServerReport::new(
            pid,
            &from,
            &to,
            report.total.messages,
            held,
        ));
    }
    Ok(report)
}

/// Merges the outcomes into the report: in total, per target, and when
/// the ramp-up reached the full count.
fn report(
    ctl: &Control,
    times: &Times,
    outcomes: &[Outcome],
    ended: Instant,
    sets: Sets,
) -> Report {
    let load = &ctl.load;
    let mut total = Tally::new();
    let mut per_target = vec![Tally::new(); load.targets.len()];
    let mut last = times.measure_from;
    for o in outcomes {
        total.merge(&o.tally);
        per_target[o.target].merge(&o.tally);
        if let Some(l) = o.last {
            last = last.max(l);
        }
    }
    for (i, t) in per_target.iter_mut().enumerate() {
        let mut rtt = Tally::new();
        rtt.hists.rtt = ctl.take_rtt(i);
        t.merge(&rtt);
        total.merge(&rtt);
    }
    let window = match load.mode {
        Mode::Hold => ended.saturating_duration_since(times.start),
        _ => last.saturating_duration_since(times.measure_from),
    };
    let setup = Setup::of(load);
    let mut report = Report::new(setup, &total, (times.measure_from, window), sets);
    if load.ramp_up.is_some() {
        let all_open = outcomes
            .iter()
            .map(|o| o.first_open)
            .collect::<Option<Vec<_>>>();
        let full = all_open.and_then(|v| v.into_iter().max()).map(|t| {
            (t.saturating_duration_since(times.start).as_secs_f64() * 1000.0).round() / 1000.0
        });
        report.full_after_secs = Some(full);
    }
    if load.targets.len() > 1 {
        let n = load.targets.len();
        report.targets = per_target
            .iter()
            .enumerate()
            .map(|(i, t)| TargetReport {
                url: load.targets[i].to_string(),
                connections: (load.connections + n - 1 - i) / n,
                results: Results::new(t, window.as_secs_f64(), &report.setup, sets),
            })
            .collect();
    }
    report
}
