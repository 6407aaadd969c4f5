//! Results: per-connection tallies, merged into one report printed as text
//! or as one JSON object.

use std::fmt::Write as _;
use std::io;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::sys::process_cpu_secs;

/// Longest latency the histograms hold (larger values are clamped): one
/// minute, in nanoseconds.
const MAX_LATENCY_NS: u64 = 60_000_000_000;

/// A latency histogram in nanoseconds, three significant digits.
pub fn new_histogram() -> Histogram<u64> {
    #[allow(clippy::expect_used)]
    Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3).expect("constant histogram bounds are valid")
}

/// Records a latency into a histogram made on first use (so that a tally
/// that records nothing allocates nothing).
#[inline]
pub fn record(h: &mut Option<Histogram<u64>>, latency: Duration) {
    record_n(h, latency, 1);
}

/// Records `n` messages that completed with the same latency (one read
/// brought all their replies) in one histogram update.
pub fn record_n(h: &mut Option<Histogram<u64>>, latency: Duration, n: u64) {
    h.get_or_insert_with(new_histogram)
        .saturating_record_n(latency.as_nanos() as u64, n);
}

fn merge_histogram(into: &mut Option<Histogram<u64>>, from: &Option<Histogram<u64>>) {
    if let Some(h) = from {
        match into {
            // Same bounds everywhere, so adding cannot fail.
            Some(mine) => {
                let _ = mine.add(h);
            }
            None => *into = Some(h.clone()),
        }
    }
}

/// Error counts by kind. Each kind is a different failure of the server or
/// the network, so they are never lumped together.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Errors {
    /// A reply of the right length whose bytes differ from what was sent
    /// (or a datagram of the wrong length).
    pub mismatch: u64,
    /// The server closed the connection before the whole reply arrived.
    pub short_read: u64,
    /// Connection reset or aborted, or a broken pipe while sending.
    pub reset: u64,
    /// Any other I/O error on an open connection.
    pub io: u64,
    /// No reply within `--timeout` (for UDP: a lost datagram).
    pub timeout: u64,
    /// Opening a connection failed or took longer than `--timeout`.
    pub connect: u64,
    /// `--request`: a reply (or greeting) that is empty, starts with `ERR`
    /// or is a line longer than the bench accepts.
    pub bad_reply: u64,
}

impl Errors {
    pub fn total(&self) -> u64 {
        self.mismatch
            + self.short_read
            + self.reset
            + self.io
            + self.timeout
            + self.connect
            + self.bad_reply
    }

    pub fn add(&mut self, o: &Errors) {
        self.mismatch += o.mismatch;
        self.short_read += o.short_read;
        self.reset += o.reset;
        self.io += o.io;
        self.timeout += o.timeout;
        self.connect += o.connect;
        self.bad_reply += o.bad_reply;
    }

    /// Counts an I/O error on an open connection under its kind.
    pub fn count_io(&mut self, e: &io::Error) {
        match e.kind() {
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe => self.reset += 1,
            io::ErrorKind::UnexpectedEof => self.short_read += 1,
            io::ErrorKind::TimedOut => self.timeout += 1,
            _ => self.io += 1,
        }
    }

    fn pairs(&self) -> [(&'static str, u64); 7] {
        [
            ("mismatch", self.mismatch),
            ("short_read", self.short_read),
            ("reset", self.reset),
            ("io", self.io),
            ("timeout", self.timeout),
            ("connect", self.connect),
            ("bad_reply", self.bad_reply),
        ]
    }
}

/// What one worker (connection) measured.
pub struct Tally {
    pub messages: u64,
    /// `--request`: bytes of the measured replies (line breaks included).
    pub bytes: u64,
    pub errors: Errors,
    /// Round-trip latency of verified messages, nanoseconds.
    pub latency: Option<Histogram<u64>>,
    /// Successful connection openings (the connect-rate mode's unit).
    pub connects: u64,
    /// Connect latency (handshake included), nanoseconds.
    pub connect_latency: Option<Histogram<u64>>,
}

impl Tally {
    pub fn new() -> Tally {
        Tally {
            messages: 0,
            bytes: 0,
            errors: Errors::default(),
            latency: None,
            connects: 0,
            connect_latency: None,
        }
    }

    pub fn merge(&mut self, o: &Tally) {
        self.messages += o.messages;
        self.bytes += o.bytes;
        self.errors.add(&o.errors);
        merge_histogram(&mut self.latency, &o.latency);
        self.connects += o.connects;
        merge_histogram(&mut self.connect_latency, &o.connect_latency);
    }
}

impl Default for Tally {
    fn default() -> Self {
        Tally::new()
    }
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Percentiles {
    pub min: f64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p99_9: f64,
    pub max: f64,
}

impl Percentiles {
    fn of(h: &Option<Histogram<u64>>) -> Percentiles {
        let Some(h) = h.as_ref().filter(|h| !h.is_empty()) else {
            return Percentiles::default();
        };
        let us = |ns: u64| round1(ns as f64 / 1000.0);
        Percentiles {
            min: us(h.min()),
            mean: round1(h.mean() / 1000.0),
            p50: us(h.value_at_quantile(0.50)),
            p90: us(h.value_at_quantile(0.90)),
            p99: us(h.value_at_quantile(0.99)),
            p99_9: us(h.value_at_quantile(0.999)),
            max: us(h.max()),
        }
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The error object of the JSON report: every kind plus their `total`.
#[derive(Debug, Serialize)]
struct ErrorReport {
    #[serde(flatten)]
    kinds: Errors,
    total: u64,
}

/// The whole result, as printed by `--json`.
#[derive(Debug, Serialize)]
pub struct Report {
    pub url: String,
    pub transport: &'static str,
    /// `closed` (request/response loop), `rate` (open loop), `connect`
    /// (connect, one echo, close) or `hold` (idle connections).
    pub mode: &'static str,
    pub connections: usize,
    /// Bytes per message (echo), or of the request text (`--request`).
    pub size: usize,
    /// `binary` (random bytes), `text` (random printable ASCII, `--text`)
    /// or `request` (`--request`).
    pub payload: &'static str,
    /// The request of `--request`; null for echo.
    pub request: Option<String>,
    /// `--greeting`: each connection's greeting was read and checked first.
    pub greeting: bool,
    pub pipeline: usize,
    /// Requested messages per second for `--rate` (`messages_per_sec` is
    /// the rate achieved).
    #[serde(rename = "rate_target", skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    /// The measured window (warm-up excluded).
    pub duration_secs: f64,
    pub warmup_secs: f64,
    /// Echoed and verified messages.
    pub messages: u64,
    pub messages_per_sec: f64,
    /// Payload megabytes (10^6 bytes) echoed per second, counted once;
    /// with `--request`, megabytes of replies received per second.
    pub mb_per_sec: f64,
    errors: ErrorReport,
    /// Round-trip latency of one message; with `--rate`, measured from the
    /// time the message was due to be sent.
    pub latency_us: Percentiles,
    /// Connections opened and their connect latency (`--connect-rate`,
    /// `--hold`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connects: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connects_per_sec: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect_latency_us: Option<Percentiles>,
    /// CPU time (user + system) this bench process used over the whole run,
    /// connection setup included: shows whether the load generator itself
    /// could have been the bottleneck.
    pub cpu_secs: f64,
}

/// How the run was set up, for the report.
pub struct Setup {
    pub url: String,
    pub transport: &'static str,
    pub mode: &'static str,
    pub connections: usize,
    pub size: usize,
    pub text: bool,
    pub request: Option<String>,
    pub greeting: bool,
    pub pipeline: usize,
    pub rate: Option<f64>,
    pub warmup: Duration,
}

impl Report {
    pub fn new(setup: Setup, tally: &Tally, measured: Duration) -> Report {
        let secs = measured.as_secs_f64();
        let per_sec = |n: u64| if secs > 0.0 { n as f64 / secs } else { 0.0 };
        let messages_per_sec = per_sec(tally.messages);
        let with_connects = matches!(setup.mode, "connect" | "hold");
        let mb_per_sec = if setup.request.is_some() {
            per_sec(tally.bytes) / 1e6
        } else {
            messages_per_sec * setup.size as f64 / 1e6
        };
        Report {
            url: setup.url,
            transport: setup.transport,
            mode: setup.mode,
            connections: setup.connections,
            size: setup.size,
            payload: if setup.request.is_some() {
                "request"
            } else if setup.text {
                "text"
            } else {
                "binary"
            },
            request: setup.request,
            greeting: setup.greeting,
            pipeline: setup.pipeline,
            rate: setup.rate,
            duration_secs: round3(secs),
            warmup_secs: round3(setup.warmup.as_secs_f64()),
            messages: tally.messages,
            messages_per_sec: round1(messages_per_sec),
            mb_per_sec: round3(mb_per_sec),
            errors: ErrorReport {
                kinds: tally.errors,
                total: tally.errors.total(),
            },
            latency_us: Percentiles::of(&tally.latency),
            connects: with_connects.then_some(tally.connects),
            connects_per_sec: (setup.mode == "connect").then(|| round1(per_sec(tally.connects))),
            cpu_secs: round3(process_cpu_secs()),
            connect_latency_us: if with_connects {
                tally
                    .connect_latency
                    .is_some()
                    .then(|| Percentiles::of(&tally.connect_latency))
            } else {
                None
            },
        }
    }

    pub fn error_total(&self) -> u64 {
        self.errors.total
    }

    pub fn json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// The human summary.
    pub fn text(&self) -> String {
        let mut s = String::new();
        let _ = write!(
            s,
            "{} {}: {} connection{}",
            self.mode_title(),
            self.url,
            self.connections,
            plural(self.connections)
        );
        if let Some(r) = &self.request {
            let _ = write!(s, ", request {r:?}");
            if self.greeting {
                let _ = write!(s, " after a greeting");
            }
        } else if self.mode != "hold" {
            let _ = write!(s, ", {}-byte messages", self.size);
        }
        if self.pipeline > 1 {
            let _ = write!(s, ", pipeline {}", self.pipeline);
        }
        if let Some(r) = self.rate {
            let _ = write!(s, ", target {r} msg/s");
        }
        let _ = writeln!(s, ", {:.2} s", self.duration_secs);
        if let Some(c) = self.connects {
            let _ = write!(s, "  connections  {c}");
            if let Some(r) = self.connects_per_sec {
                let _ = write!(s, "  ({r:.1}/s)");
            }
            let _ = writeln!(s);
            if let Some(p) = &self.connect_latency_us {
                let _ = writeln!(s, "  connect µs   {}", percentile_line(p));
            }
        }
        let _ = writeln!(
            s,
            "  messages     {}  ({:.1}/s, {:.3} MB/s{})",
            self.messages,
            self.messages_per_sec,
            self.mb_per_sec,
            if self.request.is_some() {
                " of replies"
            } else {
                ""
            }
        );
        if let Some(r) = self.rate {
            let _ = writeln!(
                s,
                "  rate         {:.1}/s achieved of {r}/s ({:.1}%)",
                self.messages_per_sec,
                self.messages_per_sec * 100.0 / r
            );
        }
        if self.messages > 0 {
            let _ = writeln!(s, "  latency µs   {}", percentile_line(&self.latency_us));
        }
        let _ = write!(s, "  bench CPU    {:.2} s", self.cpu_secs);
        if self.messages > 0 {
            let _ = write!(
                s,
                " ({:.2} µs/message)",
                self.cpu_secs * 1e6 / self.messages as f64
            );
        }
        let _ = writeln!(s);
        if self.errors.total == 0 {
            let _ = writeln!(s, "  errors       none");
        } else {
            let kinds: Vec<String> = self
                .errors
                .kinds
                .pairs()
                .iter()
                .filter(|(_, n)| *n > 0)
                .map(|(k, n)| format!("{k} {n}"))
                .collect();
            let _ = writeln!(
                s,
                "  errors       {} ({})",
                self.errors.total,
                kinds.join(", ")
            );
        }
        s
    }

    /// One line saying what was measured, for the plot.
    pub fn plot_title(&self) -> String {
        let mut t = format!(
            "{} {}: {} connection{}",
            self.mode_title(),
            self.url,
            self.connections,
            plural(self.connections),
        );
        match &self.request {
            Some(r) => {
                let _ = write!(t, ", request {r:?}");
            }
            None => {
                let _ = write!(t, ", {} B", self.size);
            }
        }
        if self.pipeline > 1 {
            let _ = write!(t, ", pipeline {}", self.pipeline);
        }
        if let Some(r) = self.rate {
            let _ = write!(t, ", {r} msg/s target");
        }
        let _ = write!(t, ", {} messages", self.messages);
        t
    }

    fn mode_title(&self) -> &'static str {
        match self.mode {
            "rate" => "open-loop bench",
            "connect" => "connect bench",
            "hold" => "held",
            _ => "bench",
        }
    }
}

fn percentile_line(p: &Percentiles) -> String {
    format!(
        "p50 {}  p90 {}  p99 {}  p99.9 {}  max {}",
        p.p50, p.p90, p.p99, p.p99_9, p.max
    )
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> Setup {
        Setup {
            url: "tcp://127.0.0.1:7".into(),
            transport: "tcp",
            mode: "closed",
            connections: 2,
            size: 100,
            text: false,
            request: None,
            greeting: false,
            pipeline: 1,
            rate: None,
            warmup: Duration::ZERO,
        }
    }

    #[test]
    fn json_has_the_contract_keys_and_total_is_the_sum() {
        let mut a = Tally::new();
        a.messages = 1000;
        a.errors.mismatch = 2;
        a.errors.timeout = 1;
        for v in [10_000u64, 20_000, 30_000] {
            record(&mut a.latency, Duration::from_nanos(v));
        }
        let mut b = Tally::new();
        b.messages = 1000;
        b.errors.reset = 4;
        record(&mut b.latency, Duration::from_millis(1));
        a.merge(&b);
        let r = Report::new(setup(), &a, Duration::from_secs(2));
        let v: serde_json::Value = serde_json::from_str(&r.json()).unwrap();
        assert_eq!(v["messages"], 2000);
        assert_eq!(v["messages_per_sec"], 1000.0);
        assert_eq!(v["mb_per_sec"], 0.1);
        assert_eq!(v["errors"]["total"], 7);
        assert_eq!(v["errors"]["mismatch"], 2);
        assert_eq!(v["errors"]["reset"], 4);
        assert_eq!(v["latency_us"]["max"].as_f64().unwrap().round(), 1000.0);
        for k in ["p50", "p90", "p99", "p99_9", "max"] {
            assert!(v["latency_us"][k].is_number(), "{k}");
        }
        assert!(
            r.text()
                .contains("errors       7 (mismatch 2, reset 4, timeout 1)")
        );
    }

    #[test]
    fn request_mode_counts_reply_bytes_and_names_the_request() {
        let mut t = Tally::new();
        t.messages = 1000;
        t.bytes = 4_000_000;
        t.errors.bad_reply = 3;
        record(&mut t.latency, Duration::from_micros(50));
        let s = Setup {
            request: Some("1 6".into()),
            size: 3,
            ..setup()
        };
        let r = Report::new(s, &t, Duration::from_secs(2));
        let v: serde_json::Value = serde_json::from_str(&r.json()).unwrap();
        assert_eq!(v["request"], "1 6");
        assert_eq!(v["payload"], "request");
        assert_eq!(v["mb_per_sec"], 2.0, "reply bytes, not messages × size");
        assert_eq!(v["errors"]["bad_reply"], 3);
        assert_eq!(v["errors"]["total"], 3);
        assert!(r.text().contains("request \"1 6\""), "{}", r.text());
        assert!(r.text().contains("bad_reply 3"), "{}", r.text());
        let echo = Report::new(setup(), &t, Duration::from_secs(2));
        let v: serde_json::Value = serde_json::from_str(&echo.json()).unwrap();
        assert!(v["request"].is_null(), "{v}");
    }

    #[test]
    fn io_errors_are_classified() {
        let mut e = Errors::default();
        e.count_io(&io::Error::from(io::ErrorKind::ConnectionReset));
        e.count_io(&io::Error::from(io::ErrorKind::BrokenPipe));
        e.count_io(&io::Error::from(io::ErrorKind::UnexpectedEof));
        e.count_io(&io::Error::from(io::ErrorKind::PermissionDenied));
        assert_eq!((e.reset, e.short_read, e.io, e.total()), (2, 1, 1, 4));
    }
}
