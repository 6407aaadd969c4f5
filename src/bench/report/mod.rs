//! The result of a run (or of merged runs): how it was set up, what it
//! measured in total and per target, the server's share, and the verdict of
//! the thresholds. Printed as text (`super::text`) or as one JSON object,
//! which `duplex bench merge` reads back.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::histogram::{Encoded, Hists, Percentiles, round1, round3};
use super::probe::ServerReport;
use super::settings::{Content, Load, Mode, Payload, Sets};
use super::tally::{Errors, Tally};
use super::threshold::{Figures, Threshold, ThresholdReport};
use crate::cli::LatencySet;

/// How the run was set up.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Setup {
    /// The URL, or every URL separated by spaces.
    pub url: String,
    /// The scheme of every URL, or `mixed`.
    pub transport: String,
    pub mode: Mode,
    pub connections: usize,
    /// Bytes per message (echo), or of the request text (`--request`).
    pub size: usize,
    /// `binary` (random bytes), `text` (random printable ASCII, `--text`)
    /// or `request` (`--request`).
    pub payload: String,
    /// The request of `--request`; null for echo.
    pub request: Option<String>,
    /// `--greeting`: each connection's greeting was read and checked first.
    pub greeting: bool,
    pub pipeline: usize,
    /// Requested messages per second in total (`--rate`, or
    /// `--rate-per-conn` × connections); `messages_per_sec` is what was
    /// achieved.
    #[serde(
        rename = "rate_target",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_per_conn: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ramp_up_secs: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conn_lifetime_secs: Option<f64>,
    pub warmup_secs: f64,
}

impl Setup {
    pub fn of(load: &Load) -> Setup {
        let mut schemes: Vec<&str> = load.targets.iter().map(|t| t.scheme()).collect();
        schemes.dedup();
        let urls: Vec<String> = load.targets.iter().map(|t| t.to_string()).collect();
        let (payload, request, greeting) = match &load.payload {
            Payload::Request { text, greeting } => ("request", Some(text.clone()), *greeting),
            Payload::Echo { content } => (
                match content {
                    Content::Binary => "binary",
                    Content::Text => "text",
                    Content::Json => "json",
                },
                None,
                false,
            ),
        };
        Setup {
            url: urls.join(" "),
            transport: match schemes.as_slice() {
                [one] => one.to_string(),
                _ => "mixed".into(),
            },
            mode: load.mode,
            connections: load.connections,
            size: load.size,
            payload: payload.into(),
            request,
            greeting,
            pipeline: load.pipeline,
            rate: load.rate,
            rate_per_conn: load.rate_per_conn,
            ramp_up_secs: load.ramp_up.map(|d| round3(d.as_secs_f64())),
            conn_lifetime_secs: load.conn_lifetime.map(|d| round3(d.as_secs_f64())),
            warmup_secs: round3(load.warmup.as_secs_f64()),
        }
    }
}

/// The error object: every kind plus their `total`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorReport {
    #[serde(flatten)]
    pub kinds: Errors,
    pub total: u64,
}

/// What was measured, in total or for one target.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Results {
    /// Echoed and verified messages (or good replies).
    pub messages: u64,
    pub messages_per_sec: f64,
    /// Payload megabytes (10^6 bytes) echoed per second, counted once;
    /// with `--request`, megabytes of replies received per second.
    pub mb_per_sec: f64,
    pub errors: ErrorReport,
    /// Round-trip latency of one message; with `--rate`, measured from the
    /// time the message was due to be sent.
    pub latency_us: Percentiles,
    /// Connections opened.
    pub connects: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connects_per_sec: Option<f64>,
    /// `--latency connect`: connect (and handshake) latency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_latency_us: Option<Percentiles>,
    /// `--latency first-byte`: from the start of a connect to the first
    /// reply byte on that connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_byte_latency_us: Option<Percentiles>,
    /// Every latency histogram with samples, for `duplex bench merge`.
    #[serde(default)]
    pub histograms: Encoded,
}

impl Results {
    pub fn new(t: &Tally, secs: f64, setup: &Setup, sets: Sets) -> Results {
        let per_sec = |n: u64| if secs > 0.0 { n as f64 / secs } else { 0.0 };
        let rate = per_sec(t.messages);
        let mb = if setup.request.is_some() {
            per_sec(t.bytes) / 1e6
        } else {
            rate * setup.size as f64 / 1e6
        };
        Results {
            messages: t.messages,
            messages_per_sec: round1(rate),
            mb_per_sec: round3(mb),
            errors: ErrorReport {
                kinds: t.errors,
                total: t.errors.total(),
            },
            latency_us: Percentiles::of(&t.hists.rtt),
            connects: t.connects,
            connects_per_sec: (setup.mode == Mode::Connect).then(|| round1(per_sec(t.connects))),
            connect_latency_us: sets.connect.then(|| Percentiles::of(&t.hists.connect)),
            first_byte_latency_us: sets
                .first_byte
                .then(|| Percentiles::of(&t.hists.first_byte)),
            histograms: t.hists.encode(),
        }
    }
}

/// One target's share of a run with several URLs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TargetReport {
    pub url: String,
    pub connections: usize,
    #[serde(flatten)]
    pub results: Results,
}

/// The whole result, as printed by `--json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    #[serde(flatten)]
    pub setup: Setup,
    /// Start of the measured window, seconds since the Unix epoch.
    pub started_at: f64,
    /// The measured window (warm-up excluded).
    pub duration_secs: f64,
    /// `--ramp-up`: seconds from the start until every connection had been
    /// open (null when some never opened).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_after_secs: Option<Option<f64>>,
    #[serde(flatten)]
    pub total: Results,
    /// Per target, when there are several URLs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<TargetReport>,
    /// CPU time (user + system) of this bench process over the whole run,
    /// connection setup included.
    pub cpu_secs: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerReport>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub thresholds: Vec<ThresholdReport>,
    /// The total histograms, for thresholds and plots.
    #[serde(skip)]
    pub hists: Hists,
    /// The latency sets to show.
    #[serde(skip)]
    pub sets: Sets,
}

/// Seconds since the Unix epoch of an `Instant` in the past (or now).
pub fn unix_secs(at: Instant) -> f64 {
    let ago = Instant::now().saturating_duration_since(at);
    let then = SystemTime::now().checked_sub(ago).unwrap_or(UNIX_EPOCH);
    round3(
        then.duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64()),
    )
}

impl Report {
    pub fn new(setup: Setup, total: &Tally, window: (Instant, Duration), sets: Sets) -> Report {
        let secs = window.1.as_secs_f64();
        Report {
            total: Results::new(total, secs, &setup, sets),
            setup,
            started_at: unix_secs(window.0),
            duration_secs: round3(secs),
            full_after_secs: None,
            targets: Vec::new(),
            cpu_secs: round3(crate::sys::process_cpu_secs()),
            server: None,
            thresholds: Vec::new(),
            hists: total.hists.clone(),
            sets,
        }
    }

    pub fn error_total(&self) -> u64 {
        self.total.errors.total
    }

    /// Checks the thresholds and records how each fared.
    pub fn judge(&mut self, thresholds: &[Threshold]) {
        self.thresholds = thresholds
            .iter()
            .map(|t| {
                let measured = t.breach(self);
                ThresholdReport {
                    expr: t.text.clone(),
                    breached: measured.is_some(),
                    measured,
                }
            })
            .collect();
    }

    /// Exit status: 3 when a threshold is breached, 1 on any error or
    /// when nothing was measured, 0 otherwise.
    pub fn verdict(&self) -> Verdict {
        if self.thresholds.iter().any(|t| t.breached) {
            Verdict::Breached
        } else if self.error_total() > 0
            || self.total.messages == 0
            || (self.setup.mode == Mode::Hold
                && self.total.connects < self.setup.connections as u64)
        {
            Verdict::Errors
        } else {
            Verdict::Clean
        }
    }

    pub fn json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

/// A setup for the tests of the report and its text.
/// How a run ended, as `duplex bench`'s exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Clean,
    /// Errors, or nothing measured.
    Errors,
    /// A `--fail-if` threshold was breached.
    Breached,
}

impl Verdict {
    pub fn code(self) -> i32 {
        match self {
            Verdict::Clean => 0,
            Verdict::Errors => 1,
            Verdict::Breached => 3,
        }
    }
}

impl Figures for Report {
    fn errors(&self) -> u64 {
        self.error_total()
    }
    fn rate(&self) -> f64 {
        self.total.messages_per_sec
    }
    fn mbps(&self) -> f64 {
        self.total.mb_per_sec
    }
    fn latency(&self, set: LatencySet) -> Option<Percentiles> {
        Percentiles::of_samples(self.hists.get(set))
    }
}

#[cfg(test)]
pub fn test_setup() -> Setup {
    Setup {
        url: "tcp://127.0.0.1:7".into(),
        transport: "tcp".into(),
        mode: Mode::Closed,
        connections: 2,
        size: 100,
        payload: "binary".into(),
        request: None,
        greeting: false,
        pipeline: 1,
        rate: None,
        rate_per_conn: None,
        ramp_up_secs: None,
        conn_lifetime_secs: None,
        warmup_secs: 0.0,
    }
}

#[cfg(test)]
mod tests;
