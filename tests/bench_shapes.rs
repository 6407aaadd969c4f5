//! `duplex bench` load shapes and measurements against real servers
//! (duplex's own, with its `--metrics` counters as the witness, and socat):
//! ramp-up, per-connection rate, connection churn, several URLs, WebSocket
//! headers and subprotocol, latency sets, `--fail-if` thresholds,
//! `--server-pid` and `duplex bench merge`. Timings are checked loosely:
//! the machine may be busy.

mod benchutil;

use std::io::Read;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use benchutil::*;
use serde_json::Value;

fn f(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} missing: {v}"))
}

#[test]
fn ramp_up_opens_the_connections_over_time_and_says_when_all_were_open() {
    let s = Server::echo_with_metrics(&["tcp://127.0.0.1:0"]);
    let (code, v, err) = bench_json(&[&s.urls[0], "-c", "8", "--ramp-up", "1s", "-d", "2s"]);
    assert_clean(code, &v, &err);
    assert_eq!(v["ramp_up_secs"], 1.0, "{v}");
    // Slot i opens at i/8 s: the last at 0.875 s. Loose bounds.
    let full = f(&v, "full_after_secs");
    assert!((0.6..1.9).contains(&full), "all open after {full} s: {v}");
    assert_eq!(s.accepted("tcp"), 8, "{v}");
    assert_eq!(v["connects"], 8, "{v}");

    let out = duplex(&[
        "bench",
        &s.urls[0],
        "-c",
        "2",
        "--ramp-up",
        "200ms",
        "-d",
        "500ms",
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stdout.contains("all 2 connections open after"),
        "{}",
        out.stdout
    );
}

#[test]
fn rate_per_conn_is_the_rate_of_each_connection() {
    let s = Server::echo(&["tcp://127.0.0.1:0"]);
    let (code, v, err) = bench_json(&[&s.urls[0], "--rate-per-conn", "250", "-c", "4", "-d", "2s"]);
    assert_clean(code, &v, &err);
    assert_eq!(v["mode"], "rate", "{v}");
    assert_eq!(v["rate_target"], 1000.0, "{v}");
    assert_eq!(v["rate_per_conn"], 250.0, "{v}");
    let achieved = f(&v, "messages_per_sec");
    assert!((800.0..=1200.0).contains(&achieved), "{achieved}/s: {v}");
}

#[test]
fn churn_opens_as_many_connections_as_the_server_accepts() {
    let s = Server::echo_with_metrics(&["tcp://127.0.0.1:0", "ws://127.0.0.1:0/"]);
    for (url, transport) in s.urls.iter().zip(["tcp", "ws"]) {
        let (code, v, err) = bench_json(&[url, "-c", "2", "--conn-lifetime", "200ms", "-d", "1s"]);
        assert_clean(code, &v, &err);
        let connects = v["connects"].as_u64().expect("connects");
        // Each of 2 slots lives 200 ms at a time in 1 s: about 5 each.
        assert!((6..=16).contains(&connects), "{connects} connections: {v}");
        assert_eq!(
            s.accepted(transport),
            connects,
            "the server saw each one: {v}"
        );
    }
    // Open loop too.
    let (code, v, err) = bench_json(&[
        &s.urls[0],
        "-c",
        "2",
        "--rate",
        "400",
        "--conn-lifetime",
        "300ms",
        "-d",
        "1s",
    ]);
    assert_clean(code, &v, &err);
    assert!(v["connects"].as_u64().expect("connects") >= 4, "{v}");
}

#[test]
fn several_urls_share_the_connections_and_are_reported_apart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let unix = format!("unix://{}", dir.path().join("echo.sock").display());
    let s = Server::echo_with_metrics(&["tcp://127.0.0.1:0", &unix, "ws://127.0.0.1:0/"]);
    let mut args: Vec<&str> = s.urls.iter().map(String::as_str).collect();
    args.extend(["-c", "6", "-n", "3000"]);
    let (code, v, err) = bench_json(&args);
    assert_clean(code, &v, &err);
    assert_eq!(v["transport"], "mixed", "{v}");
    let targets = v["targets"].as_array().expect("targets");
    assert_eq!(targets.len(), 3, "{v}");
    let mut sum = 0;
    for (t, url) in targets.iter().zip(&s.urls) {
        assert_eq!(&t["url"], url.as_str(), "{v}");
        assert_eq!(t["connections"], 2, "{v}");
        assert_eq!(t["errors"]["total"], 0, "{v}");
        assert!(t["latency_us"]["p99"].as_f64().expect("p99") > 0.0, "{v}");
        sum += t["messages"].as_u64().expect("messages");
    }
    assert_eq!(sum, 3000, "{v}");
    assert_eq!(s.accepted("tcp"), 2);
    assert_eq!(s.accepted("unix"), 2);
    assert_eq!(s.accepted("ws"), 2);
}

/// Request headers a test server saw.
type Seen = Arc<Mutex<Vec<(String, String)>>>;

/// A WebSocket echo server that remembers the handshake's headers and
/// selects the subprotocol asked for.
// tungstenite's handshake callback returns its HTTP error response by value.
#[allow(clippy::result_large_err)]
fn header_recording_ws_server() -> (u16, Seen) {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
    let seen = Seen::default();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("addr").port();
    let record = seen.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            while let Ok((stream, _)) = listener.accept().await {
                let record = record.clone();
                tokio::spawn(async move {
                    let callback = |req: &Request, mut resp: Response| {
                        let mut seen = record.lock().expect("lock");
                        for (name, value) in req.headers() {
                            seen.push((name.to_string(), value.to_str().unwrap_or("").to_string()));
                        }
                        if let Some(p) = req.headers().get("sec-websocket-protocol") {
                            resp.headers_mut()
                                .insert("sec-websocket-protocol", p.clone());
                        }
                        Ok(resp)
                    };
                    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, callback).await
                    else {
                        return;
                    };
                    while let Some(Ok(msg)) = ws.next().await {
                        if (msg.is_binary() || msg.is_text()) && ws.send(msg).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
    });
    (port, seen)
}

#[test]
fn websocket_headers_and_subprotocol_reach_the_server() {
    let (port, seen) = header_recording_ws_server();
    let url = format!("ws://127.0.0.1:{port}/");
    let (code, v, err) = bench_json(&[
        &url,
        "-c",
        "2",
        "-n",
        "100",
        "-H",
        "X-Bench: yes",
        "-H",
        "Authorization: Bearer t0k",
        "--protocol",
        "echo.v1",
    ]);
    assert_clean(code, &v, &err);
    let seen = seen.lock().expect("lock").clone();
    for (name, value) in [
        ("x-bench", "yes"),
        ("authorization", "Bearer t0k"),
        ("sec-websocket-protocol", "echo.v1"),
    ] {
        let n = seen.iter().filter(|(k, v)| k == name && v == value).count();
        assert_eq!(n, 2, "{name}: {value} on both connections: {seen:?}");
    }
}

#[test]
fn latency_sets_are_reported_apart_in_text_json_and_plot() {
    let (_socat, url) = Socat::tcp_echo();
    let sets = "connect,first-byte,rtt";
    let (code, v, err) = bench_json(&[&url, "-c", "3", "-n", "600", "--latency", sets]);
    assert_clean(code, &v, &err);
    for key in ["connect_latency_us", "first_byte_latency_us", "latency_us"] {
        let p = &v[key];
        assert!(p["p50"].as_f64().expect("p50") > 0.0, "{key}: {v}");
        assert!(p["p99"].as_f64() <= p["max"].as_f64(), "{key}: {v}");
    }
    // The first byte comes after the connect it is measured from.
    assert!(
        f(&v["first_byte_latency_us"], "min") >= f(&v["connect_latency_us"], "min"),
        "{v}"
    );

    let plot = tempfile::NamedTempFile::new().expect("temp file");
    let path = plot.path().to_str().expect("utf-8");
    let out = duplex(&[
        "bench",
        &url,
        "-c",
        "2",
        "-n",
        "200",
        "--latency",
        "connect,rtt",
        "--plot",
        path,
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stdout.contains("connect µs") && out.stdout.contains("latency µs"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("1st byte"), "{}", out.stdout);
    let svg = std::fs::read_to_string(plot.path()).expect("plot");
    assert!(
        svg.contains(">connect</text>") && svg.contains(">round trip</text>"),
        "{svg}"
    );
    assert!(!svg.contains(">first byte</text>"), "{svg}");
}

#[test]
fn a_breached_threshold_exits_3_with_a_clear_line() {
    let s = Server::echo(&["tcp://127.0.0.1:0"]);
    let (code, v, err) = bench_json(&[
        &s.urls[0],
        "-c",
        "2",
        "-n",
        "500",
        "--fail-if",
        "p99>1us",
        "--fail-if",
        "errors>0",
    ]);
    assert_consistent(&v);
    assert_eq!(code, Some(3), "{v} {err}");
    assert!(
        err.contains("--fail-if 'p99>1us' breached: measured"),
        "{err}"
    );
    assert_eq!(v["thresholds"][0]["breached"], true, "{v}");
    assert_eq!(v["thresholds"][1]["breached"], false, "{v}");

    let out = duplex(&[
        "bench",
        &s.urls[0],
        "-c",
        "2",
        "-n",
        "500",
        "--fail-if",
        "rate<1",
        "--fail-if",
        "p99.9>60s",
    ]);
    assert_eq!(out.code, Some(0), "{} {}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("fail-if      rate<1: passed"),
        "{}",
        out.stdout
    );

    let out = duplex(&["bench", &s.urls[0], "-n", "10", "--fail-if", "p99>5"]);
    assert_eq!(
        out.code,
        Some(2),
        "a latency without a unit: {}",
        out.stderr
    );
    assert!(out.stderr.contains("unit"), "{}", out.stderr);
}

#[test]
fn server_pid_gives_cpu_per_message_and_memory_per_held_connection() {
    let s = Server::echo(&["tcp://127.0.0.1:0"]);
    let pid = s.child.id().to_string();
    let (code, v, err) = bench_json(&[&s.urls[0], "-c", "4", "-n", "20000", "--server-pid", &pid]);
    assert_clean(code, &v, &err);
    let srv = &v["server"];
    assert_eq!(srv["pid"].as_u64(), Some(s.child.id() as u64), "{v}");
    assert_eq!(srv["processes"], 1, "{v}");
    assert!(
        f(srv, "cpu_secs") > 0.0 && f(srv, "cpu_us_per_message") > 0.0,
        "{v}"
    );
    assert!(f(srv, "bench_per_server") > 0.0, "{v}");
    // After a warm-up the window (and the server's share) starts later.
    // The window is a count of messages, not a time: /proc counts CPU
    // time in clock ticks (10 ms), and on a busy machine the server may
    // not run a whole tick in half a second.
    let (code, v, err) = bench_json(&[
        &s.urls[0],
        "-c",
        "2",
        "-n",
        "5000",
        "--warmup",
        "300ms",
        "--server-pid",
        &pid,
    ]);
    assert_clean(code, &v, &err);
    assert!(f(&v["server"], "cpu_us_per_message") > 0.0, "{v}");

    let (code, v, err) = bench_json(&[
        &s.urls[0],
        "--hold",
        "300",
        "-d",
        "500ms",
        "--server-pid",
        &pid,
    ]);
    assert_clean(code, &v, &err);
    let per = f(&v["server"], "rss_bytes_per_connection");
    assert!(
        (100.0..1e6).contains(&per),
        "{per} B per held connection: {v}"
    );

    // socat forks a process per connection: they are part of the server.
    // (CPU time in /proc counts in clock ticks: 10 000 round trips give it
    // enough, however busy the machine.)
    let (socat, url) = Socat::tcp_echo();
    let pid = socat.0.id().to_string();
    let (code, v, err) = bench_json(&[&url, "-c", "3", "-n", "10000", "--server-pid", &pid]);
    assert_clean(code, &v, &err);
    assert_eq!(v["server"]["processes"], 4, "socat and its 3 children: {v}");
    assert!(f(&v["server"], "cpu_secs") > 0.0, "{v}");

    let out = duplex(&["bench", &url, "--server-pid", "4000000000"]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("no such process"), "{}", out.stderr);
}

#[test]
fn merging_two_real_runs_sums_counts_and_merges_percentiles() {
    let s = Server::echo(&["tcp://127.0.0.1:0", "ws://127.0.0.1:0/"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let files: Vec<String> = ["a.json", "b.json"]
        .iter()
        .map(|n| dir.path().join(n).display().to_string())
        .collect();
    // Two runs at the same time, as from two machines.
    let runs: Vec<_> = [(&s.urls[0], "2"), (&s.urls[1], "3")]
        .into_iter()
        .map(|(url, c)| {
            let url = url.clone();
            std::thread::spawn(move || bench_json(&[&url, "-c", c, "-d", "1s"]))
        })
        .collect();
    let mut reports = Vec::new();
    for (run, file) in runs.into_iter().zip(&files) {
        let (code, v, err) = run.join().expect("bench thread");
        assert_clean(code, &v, &err);
        std::fs::write(file, v.to_string()).expect("write report");
        reports.push(v);
    }
    let (a, b) = (&reports[0], &reports[1]);
    let mut args = vec!["merge"];
    args.extend(files.iter().map(String::as_str));
    let mut json_args = vec!["bench"];
    json_args.extend(args.iter().copied());
    json_args.push("--json");
    let out = duplex(&json_args);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let m: Value = serde_json::from_str(out.stdout.trim()).expect("merged JSON");
    assert_consistent(&m);
    let n = |v: &Value, k: &str| v[k].as_u64().unwrap_or_else(|| panic!("{k}: {v}"));
    assert_eq!(
        n(&m, "messages"),
        n(a, "messages") + n(b, "messages"),
        "{m}"
    );
    assert_eq!(n(&m, "connects"), 5, "{m}");
    assert_eq!(m["connections"], 5, "{m}");
    assert_eq!(m["errors"]["total"], 0, "{m}");
    let rate = f(a, "messages_per_sec") + f(b, "messages_per_sec");
    assert!((f(&m, "messages_per_sec") - rate).abs() < 0.2, "{m}");
    let p99 = |v: &Value| f(&v["latency_us"], "p99");
    let (lo, hi) = (p99(a).min(p99(b)), p99(a).max(p99(b)));
    assert!(
        lo <= p99(&m) && p99(&m) <= hi,
        "merged p99 {} not within {lo}..{hi}",
        p99(&m)
    );
    assert_eq!(
        m["targets"].as_array().map(Vec::len),
        Some(2),
        "per target: {m}"
    );

    // Text, plot and thresholds work on the merged result too.
    let plot = dir.path().join("m.svg").display().to_string();
    let mut text_args = vec!["bench"];
    text_args.extend(args.iter().copied());
    text_args.extend(["--plot", &plot, "--fail-if", "p50>1us"]);
    let out = duplex(&text_args);
    assert_eq!(out.code, Some(3), "{} {}", out.stdout, out.stderr);
    assert!(out.stdout.contains("messages     "), "{}", out.stdout);
    let mut svg = String::new();
    std::fs::File::open(&plot)
        .and_then(|mut f| f.read_to_string(&mut svg))
        .expect("merged plot");
    assert!(svg.contains("<path d=\"M"), "{svg}");

    let out = duplex(&["bench", "merge", &files[0], "Cargo.toml"]);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains("not a `duplex bench --json` report"),
        "{}",
        out.stderr
    );
}

#[test]
fn new_flags_reject_what_cannot_work() {
    let cases: &[(&[&str], &str)] = &[
        (&["tcp://127.0.0.1:9", "-H", "X: y"], "ws:// and wss://"),
        (&["ws://127.0.0.1:9/", "-H", "nocolon"], "Name: value"),
        (
            &["tcp://127.0.0.1:9", "--fail-if", "speed>3"],
            "unknown metric",
        ),
        (
            &["tcp://127.0.0.1:9", "--ramp-up", "3s", "-d", "1s"],
            "must end",
        ),
        (
            &["tcp://127.0.0.1:9", "--rate", "5", "--rate-per-conn", "5"],
            "cannot be used with",
        ),
        (
            &["tcp://127.0.0.1:9", "--hold", "5", "--conn-lifetime", "1s"],
            "cannot be used with",
        ),
        (&["tcp://127.0.0.1:9", "--latency", "bogus"], "--latency"),
    ];
    for (args, want) in cases {
        assert_usage_error(args[0], &args[1..], want);
    }
}
