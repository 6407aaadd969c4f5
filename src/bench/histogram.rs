//! Latency histograms: HDR histograms in nanoseconds, their percentiles in
//! µs, and their serialized form in the JSON report (HdrHistogram's V2
//! format, deflate-compressed and base64-encoded, as HdrHistogram's own log
//! files store them), from which `duplex bench merge` rebuilds them.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer as _, V2DeflateSerializer};
use serde::{Deserialize, Serialize};

use crate::cli::LatencySet;

/// Longest latency the histograms hold (larger values are clamped): one
/// minute, in nanoseconds.
const MAX_LATENCY_NS: u64 = 60_000_000_000;

/// Smallest latency told apart: 1 µs. Loopback round trips take tens of
/// µs, and a coarser floor keeps each histogram (and the memory every
/// record touches) small.
const MIN_LATENCY_NS: u64 = 1_000;

/// A latency histogram in nanoseconds, three significant digits.
pub fn new_histogram() -> Histogram<u64> {
    match Histogram::new_with_bounds(MIN_LATENCY_NS, MAX_LATENCY_NS, 3) {
        Ok(h) => h,
        // The bounds are constants that `new_with_bounds` accepts.
        Err(_) => unreachable!("constant histogram bounds are valid"),
    }
}

/// The latency histograms of one tally: round trips, connects and first
/// bytes. Each is made on first use, so a tally that records nothing
/// allocates nothing.
#[derive(Debug, Clone, Default)]
pub struct Hists {
    pub rtt: Option<Histogram<u64>>,
    pub connect: Option<Histogram<u64>>,
    pub first_byte: Option<Histogram<u64>>,
}

/// Records `n` samples of `ns` nanoseconds.
#[inline]
pub fn record_n(h: &mut Option<Histogram<u64>>, ns: u64, n: u64) {
    h.get_or_insert_with(new_histogram)
        .saturating_record_n(ns, n);
}

fn merge_one(into: &mut Option<Histogram<u64>>, from: &Option<Histogram<u64>>) {
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

impl Hists {
    pub fn merge(&mut self, o: &Hists) {
        merge_one(&mut self.rtt, &o.rtt);
        merge_one(&mut self.connect, &o.connect);
        merge_one(&mut self.first_byte, &o.first_byte);
    }

    pub fn get(&self, set: LatencySet) -> &Option<Histogram<u64>> {
        match set {
            LatencySet::Rtt => &self.rtt,
            LatencySet::Connect => &self.connect,
            LatencySet::FirstByte => &self.first_byte,
        }
    }

    /// The serialized form of every histogram that has samples.
    pub fn encode(&self) -> Encoded {
        Encoded {
            rtt: encode(&self.rtt),
            connect: encode(&self.connect),
            first_byte: encode(&self.first_byte),
        }
    }

    pub fn decode(e: &Encoded) -> Result<Hists, String> {
        Ok(Hists {
            rtt: decode(&e.rtt)?,
            connect: decode(&e.connect)?,
            first_byte: decode(&e.first_byte)?,
        })
    }
}

/// The histograms of a JSON report: base64 of HdrHistogram V2 (deflate).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Encoded {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_byte: Option<String>,
}

fn encode(h: &Option<Histogram<u64>>) -> Option<String> {
    let h = h.as_ref().filter(|h| !h.is_empty())?;
    let mut bytes = Vec::new();
    V2DeflateSerializer::new().serialize(h, &mut bytes).ok()?;
    Some(STANDARD.encode(bytes))
}

fn decode(s: &Option<String>) -> Result<Option<Histogram<u64>>, String> {
    let Some(s) = s else { return Ok(None) };
    let bytes = STANDARD
        .decode(s)
        .map_err(|e| format!("a histogram is not base64: {e}"))?;
    let h: Histogram<u64> = Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| format!("a histogram cannot be read: {e:?}"))?;
    // Re-recorded into our bounds so that merging never fails.
    let mut mine = new_histogram();
    mine.add(&h)
        .map_err(|e| format!("a histogram does not fit: {e:?}"))?;
    Ok(Some(mine))
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
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
    /// All zero for a missing or empty histogram.
    pub fn of(h: &Option<Histogram<u64>>) -> Percentiles {
        Percentiles::of_samples(h).unwrap_or_default()
    }

    /// `None` for a missing or empty histogram.
    pub fn of_samples(h: &Option<Histogram<u64>>) -> Option<Percentiles> {
        let h = h.as_ref().filter(|h| !h.is_empty())?;
        let us = |ns: u64| round1(ns as f64 / 1000.0);
        Some(Percentiles {
            min: us(h.min()),
            mean: round1(h.mean() / 1000.0),
            p50: us(h.value_at_quantile(0.50)),
            p90: us(h.value_at_quantile(0.90)),
            p99: us(h.value_at_quantile(0.99)),
            p99_9: us(h.value_at_quantile(0.999)),
            max: us(h.max()),
        })
    }
}

pub fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_survive_encoding_and_merge_exactly() {
        let mut a = Hists::default();
        for us in 1..=1000u64 {
            record_n(&mut a.rtt, us * 1000, 1);
        }
        record_n(&mut a.connect, 250_000, 3);
        let e = a.encode();
        assert!(e.first_byte.is_none());
        let back = Hists::decode(&e).unwrap_or_else(|e| panic!("{e}"));
        let (h, b) = (a.rtt.as_ref(), back.rtt.as_ref());
        assert_eq!(h.map(|h| h.len()), b.map(|h| h.len()));
        assert_eq!(
            Percentiles::of(&a.rtt),
            Percentiles::of(&back.rtt),
            "same percentiles after the round trip"
        );
        let mut m = back.clone();
        m.merge(&a);
        assert_eq!(m.rtt.map(|h| h.len()), Some(2000));
        assert_eq!(m.connect.map(|h| h.len()), Some(6));
        assert!(
            Hists::decode(&Encoded {
                rtt: Some("not base64!".into()),
                ..Encoded::default()
            })
            .is_err()
        );
    }
}
