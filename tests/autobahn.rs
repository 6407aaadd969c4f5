//! Autobahn|Testsuite conformance, groups 1–13 (12 and 13: permessage-deflate),
//! with kosoku (an Autobahn-compatible runner from PyPI, installed into
//! `.venv` by `scripts/test.sh`):
//!
//! * server: kosoku drives `duplex serve echo ws://…` with its defaults
//!   (compression agreed when offered);
//! * client: kosoku's fuzzing server drives the `autobahn_client` example,
//!   an echo client on duplex's dialer offering permessage-deflate as
//!   `duplex connect --compress` does.
//!
//! Every case must end OK, NON-STRICT or INFORMATIONAL, and every case of
//! the groups must have run. A missing kosoku fails the tests.
//!
//! **Every case runs, in CI too: 517 per side.** The 60 cases of groups
//! 12 and 13 with 128 KiB messages (12.x.10, 12.x.15–18, 13.x.10,
//! 13.x.15–18: 1,000 messages each, whole or fragmented) take more than
//! half of the suite's time, almost all of it deflating and inflating
//! (zlib-rs on duplex's side, the runner's own zlib on the other), which
//! is what they test.
//!
//! The two suites run at the same time (two tests of one binary), each
//! with two cases in parallel, and the deflate code is built
//! optimised even in test builds (Cargo.toml): unoptimised, zlib-rs alone
//! would take most of the CI budget (BENCHMARKS.md, "Conformance").

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

/// Cases per group of the Autobahn suite, groups 1–13 (there are no groups
/// 8 and 11).
const ALL_GROUPS: [(u32, usize); 11] = [
    (1, 16),
    (2, 11),
    (3, 7),
    (4, 10),
    (5, 20),
    (6, 145),
    (7, 37),
    (9, 54),
    (10, 1),
    (12, 90),
    (13, 126),
];
/// Verdicts that pass, for the message exchange and for the close.
const ACCEPTABLE: [&str; 3] = ["OK", "NON-STRICT", "INFORMATIONAL"];
/// Bound on one whole run of the suite: a debug build took 8.5 minutes
/// with both suites side by side while other builds shared the two cores.
const SUITE_TIMEOUT: Duration = Duration::from_secs(1500);

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `.venv/bin/kosoku`, or a failure naming the install command.
fn kosoku() -> Command {
    let path = root().join(".venv/bin/kosoku");
    assert!(
        path.exists(),
        "{} is missing: run scripts/test.sh, or \
         python3 -m venv .venv && .venv/bin/pip install websockets kosoku",
        path.display()
    );
    Command::new(path)
}

/// The `autobahn_client` example of the same build profile as the binary
/// under test, brought up to date first: `cargo test` compiles examples
/// but does not refresh `examples/autobahn_client` itself, so a copy left
/// by an older build would be tested instead (cargo does nothing when it
/// is current).
fn autobahn_client() -> PathBuf {
    let bin_dir = Path::new(BIN).parent().expect("binary directory");
    let exe = bin_dir.join("examples/autobahn_client");
    {
        let mut cmd = Command::new(option_env!("CARGO").unwrap_or("cargo"));
        cmd.current_dir(root())
            .args(["build", "--example", "autobahn_client"]);
        if bin_dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let out = run(cmd, SUITE_TIMEOUT);
        assert_eq!(
            out.code(),
            Some(0),
            "cargo build --example autobahn_client failed: {}",
            out.stderr
        );
    }
    assert!(exe.exists(), "{} was not built", exe.display());
    exe
}

/// One case's verdicts.
#[derive(Debug)]
struct Verdict {
    behavior: String,
    close: String,
}

/// Reads kosoku's `index.json`: `{agent: {case: {behavior, behaviorClose}}}`.
fn read_report(dir: &Path) -> BTreeMap<String, Verdict> {
    let path = dir.join("index.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("kosoku wrote no {}: {e}", path.display()));
    let json: serde_json::Value = serde_json::from_str(&text).expect("index.json is JSON");
    let agents = json.as_object().expect("index.json is an object of agents");
    assert_eq!(
        agents.len(),
        1,
        "one agent in the report: {:?}",
        agents.keys()
    );
    let cases = agents
        .values()
        .next()
        .and_then(|c| c.as_object())
        .expect("an object of cases");
    cases
        .iter()
        .map(|(id, v)| {
            let field = |k: &str| v[k].as_str().unwrap_or("(none)").to_string();
            let verdict = Verdict {
                behavior: field("behavior"),
                close: field("behaviorClose"),
            };
            (id.clone(), verdict)
        })
        .collect()
}

/// Prints the tally and asserts that every case of groups 1–13 ran and
/// passed.
fn assert_conformant(side: &str, report: &BTreeMap<String, Verdict>, elapsed: Duration) {
    let mut tally: BTreeMap<&str, usize> = BTreeMap::new();
    for v in report.values() {
        *tally.entry(v.behavior.as_str()).or_default() += 1;
    }
    eprintln!(
        "autobahn {side}: {} cases in {elapsed:.1?}: {tally:?}",
        report.len()
    );
    let bad: Vec<String> = report
        .iter()
        .filter(|(_, v)| {
            !ACCEPTABLE.contains(&v.behavior.as_str()) || !ACCEPTABLE.contains(&v.close.as_str())
        })
        .map(|(id, v)| format!("{id}: {} / close {}", v.behavior, v.close))
        .collect();
    assert!(bad.is_empty(), "{side}: cases that did not pass: {bad:#?}");
    for &(group, expected) in &ALL_GROUPS {
        let ran = report
            .keys()
            .filter(|id| id.split('.').next() == Some(&group.to_string()))
            .count();
        assert_eq!(
            ran, expected,
            "{side}: group {group} should have {expected} cases, the report has {ran}"
        );
    }
    let total: usize = ALL_GROUPS.iter().map(|(_, n)| n).sum();
    assert_eq!(
        report.len(),
        total,
        "{side}: unexpected cases in the report"
    );
}

#[test]
fn autobahn_server_groups_1_to_13_pass() {
    let server = Server::serve(
        "echo",
        &["ws://127.0.0.1:0/"],
        &["--max-message", "20000000", "-q"],
    );
    let out_dir = tempdir();
    let mut cmd = kosoku();
    cmd.arg(server.url(0))
        .args(["-p", "2", "-o"])
        .arg(out_dir.path());
    let start = Instant::now();
    let out = run(cmd, SUITE_TIMEOUT);
    let elapsed = start.elapsed();
    let report = read_report(out_dir.path());
    assert_conformant("server", &report, elapsed);
    assert_eq!(
        out.code(),
        Some(0),
        "kosoku failed: {}{}",
        out.stdout_str(),
        out.stderr
    );
}

#[test]
fn autobahn_client_groups_1_to_13_pass() {
    let client = autobahn_client();
    let out_dir = tempdir();
    let mut cmd = kosoku();
    cmd.args(["-m", "fuzzingserver", "127.0.0.1:0"])
        .arg("-o")
        .arg(out_dir.path());
    let mut fuzzer = Interactive::spawn(cmd);
    // kosoku says `fuzzingserver listening on ws://127.0.0.1:PORT` on stderr.
    let addr = fuzzer.stderr_after("listening on ws://", WAIT);
    let addr = addr
        .unwrap_or_else(|| panic!("kosoku's fuzzing server did not start: {}", fuzzer.stderr()));

    let start = Instant::now();
    let mut cmd = Command::new(&client);
    cmd.arg(&addr).args(["--parallel", "2"]);
    let out = run(cmd, SUITE_TIMEOUT);
    let elapsed = start.elapsed();
    assert_eq!(
        out.code(),
        Some(0),
        "autobahn_client failed: {}",
        out.stderr
    );
    let status = fuzzer.wait(WAIT);
    assert!(
        status.is_some(),
        "kosoku did not finish after the reports were updated: {}",
        fuzzer.stderr()
    );
    let report = read_report(out_dir.path());
    assert_conformant("client", &report, elapsed);
    assert!(
        status.is_some_and(|s| s.success()),
        "kosoku failed: {}",
        fuzzer.stderr()
    );
}
