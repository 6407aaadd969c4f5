//! `duplex bench merge A.json B.json …`: one exact result from bench runs
//! made at the same time on several machines (or processes).
//!
//! Counts and errors are summed; percentiles come from the merged
//! histograms (each report carries its own, serialized), so the merged p99
//! is the p99 of every message, not an average of p99s. Rates are summed:
//! each run's rate is its messages over its own window, and the runs are
//! meant to overlap; the merged window is the time all of them were
//! measuring (latest start to earliest end), and a warning says so when
//! they hardly overlap. Server measurements are not merged: several runs
//! of the same server would count it several times.

use std::path::PathBuf;

use anyhow::{Context, bail};

use super::histogram::{Hists, round1, round3};
use super::report::{Report, Results, TargetReport};
use super::settings::Sets;
use super::tally::Tally;

/// Reads and merges the reports.
pub fn reports(files: &[PathBuf]) -> anyhow::Result<Report> {
    let mut reports = Vec::with_capacity(files.len());
    for f in files {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?;
        let r: Report = serde_json::from_str(text.trim())
            .with_context(|| format!("{} is not a `duplex bench --json` report", f.display()))?;
        reports.push((f.display().to_string(), r));
    }
    let Some((first_name, first)) = reports.first() else {
        bail!("no reports to merge");
    };
    for (name, r) in &reports[1..] {
        let (a, b) = (&first.setup, &r.setup);
        if a.mode != b.mode || a.size != b.size || a.payload != b.payload {
            bail!(
                "{name} ({:?}, {} B {}) and {first_name} ({:?}, {} B {}) measured different things",
                b.mode,
                b.size,
                b.payload,
                a.mode,
                a.size,
                a.payload
            );
        }
    }
    let start = reports
        .iter()
        .map(|(_, r)| r.started_at)
        .fold(f64::MIN, f64::max);
    let end = reports
        .iter()
        .map(|(_, r)| r.started_at + r.duration_secs)
        .fold(f64::MAX, f64::min);
    let longest = reports
        .iter()
        .map(|(_, r)| r.duration_secs)
        .fold(0.0, f64::max);
    let common = (end - start).max(0.0);
    if common < 0.9 * longest {
        eprintln!(
            "duplex: the runs overlap for {common:.3} s of {longest:.3} s: summed rates assume they ran at the same time"
        );
    }

    let mut setup = first.setup.clone();
    let mut urls: Vec<&str> = Vec::new();
    let mut sets = Sets {
        rtt: true,
        ..Sets::default()
    };
    let mut total = Tally::new();
    let mut cpu = 0.0;
    let mut targets: Vec<(String, usize, Tally, f64, f64)> = Vec::new();
    for (name, r) in &reports {
        for u in r.setup.url.split(' ') {
            if !urls.contains(&u) {
                urls.push(u);
            }
        }
        if r.setup.transport != setup.transport {
            setup.transport = "mixed".into();
        }
        sets.connect |= r.total.connect_latency_us.is_some();
        sets.first_byte |= r.total.first_byte_latency_us.is_some();
        cpu += r.cpu_secs;
        total.merge(&tally(&r.total).with_context(|| name.clone())?);
        let parts = if r.targets.is_empty() {
            vec![(r.setup.url.clone(), r.setup.connections, &r.total)]
        } else {
            r.targets
                .iter()
                .map(|t| (t.url.clone(), t.connections, &t.results))
                .collect()
        };
        for (url, conns, results) in parts {
            let t = tally(results).with_context(|| name.clone())?;
            let at = match targets.iter().position(|x| x.0 == url) {
                Some(i) => i,
                None => {
                    targets.push((url, 0, Tally::new(), 0.0, 0.0));
                    targets.len() - 1
                }
            };
            let x = &mut targets[at];
            x.1 += conns;
            x.2.merge(&t);
            x.3 += results.messages_per_sec;
            x.4 += results.mb_per_sec;
        }
    }
    setup.url = urls.join(" ");
    setup.connections = reports.iter().map(|(_, r)| r.setup.connections).sum();
    setup.rate = sum_some(reports.iter().map(|(_, r)| r.setup.rate));
    let mut merged = Report::new(
        setup,
        &total,
        (std::time::Instant::now(), std::time::Duration::ZERO),
        sets,
    );
    merged.started_at = round3(start);
    merged.duration_secs = round3(common);
    merged.cpu_secs = round3(cpu);
    summed_rates(&mut merged.total, reports.iter().map(|(_, r)| &r.total));
    if targets.len() > 1 {
        merged.targets = targets
            .into_iter()
            .map(|(url, connections, t, rate, mb)| {
                let mut results = Results::new(&t, 0.0, &merged.setup, sets);
                results.messages_per_sec = round1(rate);
                results.mb_per_sec = round3(mb);
                TargetReport {
                    url,
                    connections,
                    results,
                }
            })
            .collect();
    }
    Ok(merged)
}

/// A report's counts and histograms back as a tally.
fn tally(r: &Results) -> anyhow::Result<Tally> {
    let mut t = Tally::new();
    t.messages = r.messages;
    t.errors = r.errors.kinds;
    t.connects = r.connects;
    t.hists = Hists::decode(&r.histograms).map_err(anyhow::Error::msg)?;
    Ok(t)
}

/// Rates of the merged result: the sums of the runs' rates.
fn summed_rates<'a>(into: &mut Results, from: impl Iterator<Item = &'a Results>) {
    let (mut rate, mut mb, mut connects) = (0.0, 0.0, None);
    for r in from {
        rate += r.messages_per_sec;
        mb += r.mb_per_sec;
        if let Some(c) = r.connects_per_sec {
            *connects.get_or_insert(0.0) += c;
        }
    }
    into.messages_per_sec = round1(rate);
    into.mb_per_sec = round3(mb);
    into.connects_per_sec = connects.map(round1);
}

fn sum_some(it: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    it.fold(None, |acc, v| match (acc, v) {
        (None, v) => v,
        (Some(a), Some(b)) => Some(a + b),
        (a, None) => a,
    })
}
