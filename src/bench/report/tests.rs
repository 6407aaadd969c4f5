//! Tests of the report: the JSON keys and that thresholds decide the verdict.

use super::*;

fn setup() -> Setup {
    test_setup()
}

fn rtt() -> Sets {
    Sets {
        rtt: true,
        ..Sets::default()
    }
}

#[test]
fn json_has_the_contract_keys_and_reads_back() {
    let mut a = Tally::new();
    a.errors.mismatch = 2;
    a.errors.timeout = 1;
    a.messages(Duration::from_micros(10), 999);
    a.messages(Duration::from_millis(1), 1);
    let mut b = Tally::new();
    b.errors.reset = 4;
    b.messages(Duration::from_micros(20), 1000);
    a.merge(&b);
    let r = Report::new(setup(), &a, (Instant::now(), Duration::from_secs(2)), rtt());
    let v: serde_json::Value = serde_json::from_str(&r.json()).unwrap_or_default();
    assert_eq!(v["messages"], 2000);
    assert_eq!(v["messages_per_sec"], 1000.0);
    assert_eq!(v["mb_per_sec"], 0.1);
    assert_eq!(v["errors"]["total"], 7);
    assert_eq!(v["errors"]["mismatch"], 2);
    assert_eq!(v["mode"], "closed");
    assert!(v["histograms"]["rtt"].is_string(), "{v}");
    for k in ["p50", "p90", "p99", "p99_9", "max"] {
        assert!(v["latency_us"][k].is_number(), "{k}");
    }
    let back: Report = serde_json::from_str(&r.json()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back.total.messages, 2000);
    assert_eq!(back.setup.mode, Mode::Closed);
    assert_eq!(back.total.errors.kinds.reset, 4);
    assert_eq!(r.verdict(), Verdict::Errors);
}

#[test]
fn thresholds_decide_the_verdict() {
    let mut t = Tally::new();
    t.messages(Duration::from_millis(7), 100);
    let mut r = Report::new(setup(), &t, (Instant::now(), Duration::from_secs(1)), rtt());
    assert_eq!(r.verdict(), Verdict::Clean);
    let th: Vec<Threshold> = ["p99>5ms", "rate<50"]
        .iter()
        .filter_map(|s| s.parse().ok())
        .collect();
    r.judge(&th);
    assert_eq!(r.verdict(), Verdict::Breached);
    assert!(r.thresholds[0].breached && !r.thresholds[1].breached);
    assert_eq!(Verdict::Breached.code(), 3);
}
