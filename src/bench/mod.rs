//! `duplex bench`: a load generator for echo servers and, with
//! `--request`, for the line services (random, daytime, counter).
//!
//! ```text
//! mod.rs          entry: run a load or merge reports, print, judge
//! settings.rs     BenchArgs -> checked Settings (usage errors, exit 2)
//! checks.rs       the checks clap cannot make
//! threshold.rs    --fail-if expressions
//! run.rs          one load run: connectors, workers, start gate, server samples
//! control.rs      what every worker shares: clock, gate, budget, stop, progress
//! worker.rs       one worker per connection slot; --hold
//! closed.rs       the closed loop (--pipeline messages in flight)
//! open/           the open loop (--rate, --rate-per-conn) as a type; replies.rs matches replies
//! connect.rs      --connect-rate: connect, one message, close
//! link.rs         a worker's connection: open, greeting, deadline, churn
//! exchange.rs     one batch: send, receive, verify, count
//! payload.rs      random patterns and --request batches
//! reply.rs        request-mode replies (lines, datagrams, messages)
//! transport/      connect / send / receive per transport (ws.rs: WebSocket)
//! tally.rs        counts and error kinds per worker, target and run
//! histogram.rs    HDR histograms, percentiles, their serialized form
//! probe.rs        --server-pid: the server's CPU and memory from /proc
//! report.rs       the report (JSON) and the verdict (exit status)
//! text.rs         the report as text
//! merge.rs        duplex bench merge: one report from several
//! plot.rs         latency percentile curves as SVG (--plot)
//! progress.rs     the live progress line
//! ```
//!
//! Modes: the closed loop (default: each connection keeps `--pipeline`
//! messages in flight), the open loop (`--rate R` in total or
//! `--rate-per-conn R`: messages on a fixed schedule, latency from the
//! intended send time), `--connect-rate` (connect, one echo, close, again)
//! and `--hold N` (N idle connections, for memory measurements). Load
//! shapes on top: `--ramp-up` (connections opened evenly over a time),
//! `--conn-lifetime` (churn) and several URLs (connections round-robin).
//! Every echoed payload is verified; any error makes the exit status 1, a
//! breached `--fail-if` threshold 3.
//!
//! `--request TEXT` swaps the payload, not the modes: every message is TEXT
//! as one request and every reply is checked to be one non-empty line (or
//! datagram, or message) that is not `ERR …`; `--greeting` reads one reply
//! on each new connection before the first request.

mod checks;
mod closed;
mod connect;
mod control;
mod exchange;
mod from_args;
pub mod histogram;
mod hold;
mod link;
pub mod merge;
mod open;
pub mod payload;
pub mod plot;
pub mod probe;
mod progress;
pub mod reply;
pub mod report;
mod run;
pub mod settings;
pub mod tally;
mod text;
pub mod threshold;
pub mod transport;
pub mod usage;
mod worker;

use anyhow::Context;

pub use report::{Report, Verdict};
pub use settings::{Settings, Task};
pub use usage::UsageError;

use crate::cli::LatencySet;

/// Runs what the settings ask for (a load, or a merge of reports), prints
/// the report and says how it went.
pub async fn run(settings: Settings) -> anyhow::Result<Verdict> {
    let mut report = match settings.task {
        Task::Load(load) => run::run(*load, settings.sets).await?,
        Task::Merge(files) => merge::reports(&files)?,
    };
    report.judge(&settings.thresholds);
    if let Some(path) = &settings.plot {
        std::fs::write(path, plot_svg(&report))
            .with_context(|| format!("cannot write the plot to {}", path.display()))?;
    }
    if settings.json {
        println!("{}", report.json());
    } else {
        print!("{}", report.text());
    }
    for t in report.thresholds.iter().filter(|t| t.breached) {
        let measured = t.measured.as_deref().unwrap_or("");
        eprintln!("duplex: --fail-if '{}' breached: {measured}", t.expr);
    }
    Ok(report.verdict())
}

/// The report's latency sets as curves of one chart.
pub fn plot_svg(report: &Report) -> String {
    let sets = [
        (report.sets.rtt, LatencySet::Rtt, "round trip"),
        (report.sets.connect, LatencySet::Connect, "connect"),
        (report.sets.first_byte, LatencySet::FirstByte, "first byte"),
    ];
    let curves: Vec<(&str, &_)> = sets
        .iter()
        .filter(|(on, _, _)| *on)
        .map(|(_, set, name)| (*name, report.hists.get(*set)))
        .collect();
    let title = format!("{}, {} messages", report.headline(), report.total.messages);
    plot::svg(&curves, &title)
}
