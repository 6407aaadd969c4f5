//! Latency curves of several `duplex bench --json` reports in one SVG, drawn
//! by `duplex::bench::plot` from the histograms each report carries (the
//! whole percentile curve, not a handful of points).
//!
//! ```sh
//! cargo run --release --example plot_compare -- -o tcp64.svg --title "TCP 64 B" \
//!     duplex=tcp64-duplex.json tokio=tcp64-tokio.json socat=tcp64-socat.json
//! ```
//!
//! `--connect` draws the connect latency instead of the round trip.

use std::process::ExitCode;

use duplex::bench::Report;
use duplex::bench::histogram::{Encoded, Hists};

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("plot_compare: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(args: Vec<String>) -> Result<(), String> {
    let (mut out, mut title, mut connect) = (None, "latency".to_string(), false);
    let mut curves: Vec<(String, Hists)> = Vec::new();
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-o" | "--output" => out = it.next(),
            "--title" => title = it.next().ok_or("--title needs a value")?,
            "--connect" => connect = true,
            spec => {
                let (name, path) = spec
                    .split_once('=')
                    .ok_or_else(|| format!("expected NAME=FILE.json, got {spec:?}"))?;
                let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
                let report: Report =
                    serde_json::from_str(text.trim()).map_err(|e| format!("{path}: {e}"))?;
                let encoded: &Encoded = &report.total.histograms;
                curves.push((name.to_string(), Hists::decode(encoded)?));
            }
        }
    }
    let out = out.ok_or("-o FILE.svg is required")?;
    if curves.is_empty() {
        return Err("no NAME=FILE.json given".into());
    }
    let drawn: Vec<(&str, &_)> = curves
        .iter()
        .map(|(name, h)| (name.as_str(), if connect { &h.connect } else { &h.rtt }))
        .collect();
    std::fs::write(&out, duplex::bench::plot::svg(&drawn, &title))
        .map_err(|e| format!("{out}: {e}"))
}
