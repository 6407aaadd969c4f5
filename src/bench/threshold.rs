//! `--fail-if EXPR`: pass/fail thresholds, so that a bench run can gate a
//! CI job. An expression is `METRIC OP VALUE` with OP one of `>`, `>=`,
//! `<`, `<=`:
//!
//! ```text
//! p50 p90 p99 p99.9 max min mean    round-trip latency, with a unit: 5ms, 250us, 1s
//! connect.p99  first-byte.p99 …     the same statistics of the other latency sets
//! errors                            errors of every kind, summed
//! rate                              messages per second (k and M suffixes allowed)
//! mbps                              megabytes per second
//! ```
//!
//! A latency threshold over a set with no samples counts as breached: a
//! gate must not pass because nothing was measured.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::histogram::Percentiles;
use super::usage::UsageError;
use crate::cli::LatencySet;

/// A checked `--fail-if` expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// As the user wrote it, for the messages.
    pub text: String,
    metric: Metric,
    op: Op,
    /// Latency in µs, or the plain number.
    value: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Metric {
    Latency(LatencySet, Stat),
    Errors,
    Rate,
    Mbps,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Stat {
    Min,
    Mean,
    P50,
    P90,
    P99,
    P999,
    Max,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Gt,
    Ge,
    Lt,
    Le,
}

/// The figures a threshold is checked against.
pub trait Figures {
    fn errors(&self) -> u64;
    fn rate(&self) -> f64;
    fn mbps(&self) -> f64;
    /// Percentiles of a latency set, `None` without samples.
    fn latency(&self, set: LatencySet) -> Option<Percentiles>;
}

const EXAMPLES: &str = "e.g. 'p99>5ms', 'connect.p99>20ms', 'errors>0', 'rate<50000', 'mbps<100'";

impl FromStr for Threshold {
    type Err = UsageError;

    fn from_str(s: &str) -> Result<Threshold, UsageError> {
        let bad = |why: &str| UsageError(format!("--fail-if '{s}': {why} ({EXAMPLES})"));
        let at = s.find(['<', '>']).ok_or_else(|| bad("no < or > in it"))?;
        let (left, rest) = s.split_at(at);
        let (op, right) = match rest.as_bytes() {
            [b'>', b'=', ..] => (Op::Ge, &rest[2..]),
            [b'<', b'=', ..] => (Op::Le, &rest[2..]),
            [b'>', ..] => (Op::Gt, &rest[1..]),
            _ => (Op::Lt, &rest[1..]),
        };
        let (left, right) = (left.trim().to_ascii_lowercase(), right.trim());
        let metric = match left.as_str() {
            "errors" => Metric::Errors,
            "rate" => Metric::Rate,
            "mbps" => Metric::Mbps,
            name => {
                let prefixes = [
                    ("connect.", LatencySet::Connect),
                    ("first-byte.", LatencySet::FirstByte),
                    ("first_byte.", LatencySet::FirstByte),
                    ("rtt.", LatencySet::Rtt),
                ];
                let (set, stat) = prefixes
                    .iter()
                    .find_map(|(p, set)| name.strip_prefix(p).map(|st| (*set, st)))
                    .unwrap_or((LatencySet::Rtt, name));
                let stat = match stat {
                    "min" => Stat::Min,
                    "mean" => Stat::Mean,
                    "p50" => Stat::P50,
                    "p90" => Stat::P90,
                    "p99" => Stat::P99,
                    "p99.9" | "p999" | "p99_9" => Stat::P999,
                    "max" => Stat::Max,
                    _ => return Err(bad(&format!("unknown metric '{name}'"))),
                };
                Metric::Latency(set, stat)
            }
        };
        let value = match metric {
            Metric::Latency(..) => latency_us(right)
                .ok_or_else(|| bad("a latency needs a unit: ns, us, ms or s (e.g. 5ms)"))?,
            _ => number(right).ok_or_else(|| bad(&format!("'{right}' is not a number")))?,
        };
        Ok(Threshold {
            text: s.trim().to_string(),
            metric,
            op,
            value,
        })
    }
}

/// `5ms`, `250us`, `250µs`, `1.5s`, `800ns` in µs.
fn latency_us(s: &str) -> Option<f64> {
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (n, unit) = s.split_at(split);
    let n: f64 = n.parse().ok()?;
    let scale = match unit.trim() {
        "ns" => 1e-3,
        "us" | "µs" => 1.0,
        "ms" => 1e3,
        "s" => 1e6,
        _ => return None,
    };
    Some(n * scale).filter(|v| v.is_finite() && *v >= 0.0)
}

/// `50000`, `50k`, `1.5M`.
fn number(s: &str) -> Option<f64> {
    let (n, scale) = match s.strip_suffix(['k', 'K']) {
        Some(n) => (n, 1e3),
        None => match s.strip_suffix('M') {
            Some(n) => (n, 1e6),
            None => (s, 1.0),
        },
    };
    n.trim()
        .parse::<f64>()
        .ok()
        .map(|v| v * scale)
        .filter(|v| v.is_finite() && *v >= 0.0)
}

impl Threshold {
    /// `None` when the result passes; otherwise what was measured.
    pub fn breach(&self, f: &dyn Figures) -> Option<String> {
        let measured = match self.metric {
            Metric::Errors => f.errors() as f64,
            Metric::Rate => f.rate(),
            Metric::Mbps => f.mbps(),
            Metric::Latency(set, stat) => {
                let Some(p) = f.latency(set) else {
                    return Some("no latency was measured".into());
                };
                match stat {
                    Stat::Min => p.min,
                    Stat::Mean => p.mean,
                    Stat::P50 => p.p50,
                    Stat::P90 => p.p90,
                    Stat::P99 => p.p99,
                    Stat::P999 => p.p99_9,
                    Stat::Max => p.max,
                }
            }
        };
        let breached = match self.op {
            Op::Gt => measured > self.value,
            Op::Ge => measured >= self.value,
            Op::Lt => measured < self.value,
            Op::Le => measured <= self.value,
        };
        breached.then(|| match self.metric {
            Metric::Latency(..) => format!("measured {}", Micros(measured)),
            _ => format!("measured {}", trim_number(measured)),
        })
    }
}

/// A latency in µs, written with a readable unit.
struct Micros(f64);

impl fmt::Display for Micros {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 >= 1e6 {
            write!(f, "{:.3}s", self.0 / 1e6)
        } else if self.0 >= 1e3 {
            write!(f, "{:.3}ms", self.0 / 1e3)
        } else {
            write!(f, "{:.1}µs", self.0)
        }
    }
}

fn trim_number(v: f64) -> String {
    if v == v.round() {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}

/// A `--fail-if` threshold and how the run fared.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ThresholdReport {
    pub expr: String,
    pub breached: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    struct F {
        p99: f64,
    }

    impl Figures for F {
        fn errors(&self) -> u64 {
            2
        }
        fn rate(&self) -> f64 {
            40_000.0
        }
        fn mbps(&self) -> f64 {
            2.5
        }
        fn latency(&self, set: LatencySet) -> Option<Percentiles> {
            (set == LatencySet::Rtt).then_some(Percentiles {
                p99: self.p99,
                ..Percentiles::default()
            })
        }
    }

    fn t(s: &str) -> Threshold {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn expressions_parse_with_units_and_suffixes() {
        assert_eq!(t("p99>5ms").value, 5000.0);
        assert_eq!(t("p99.9 >= 250us").value, 250.0);
        assert_eq!(t("rate<50k").value, 50_000.0);
        assert_eq!(t("connect.max>1s").value, 1e6);
        for bad in [
            "p99>5",
            "p98>1ms",
            "speed>3",
            "errors",
            "rate<fast",
            "x.p99>1ms",
        ] {
            assert!(bad.parse::<Threshold>().is_err(), "{bad}");
        }
    }

    #[test]
    fn breaches_are_reported_with_the_measured_value() {
        let f = F { p99: 7310.0 };
        assert_eq!(t("p99>5ms").breach(&f).as_deref(), Some("measured 7.310ms"));
        assert_eq!(t("p99>10ms").breach(&f), None);
        assert_eq!(t("errors>0").breach(&f).as_deref(), Some("measured 2"));
        assert_eq!(
            t("rate<50000").breach(&f).as_deref(),
            Some("measured 40000")
        );
        assert_eq!(
            t("rate<=40000").breach(&f).as_deref(),
            Some("measured 40000")
        );
        assert_eq!(t("mbps<2").breach(&f), None);
        assert!(t("connect.p99>1ms").breach(&f).is_some(), "no samples");
    }
}
