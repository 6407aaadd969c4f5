//! `duplex bench` (docs/behaviour.md, "Benchmarking") against real echo
//! servers: duplex's own over
//! tcp, unix, udp, tls, ws and wss, and socat; servers that corrupt one byte
//! (TCP) or one message (WebSocket); usage errors. With `--request`, against
//! duplex's random, counter and daytime services, `ERR` replies and a server
//! whose reply line never ends. Every run is bounded (`-n` or a short `-d`) and every child
//! process is killed if it overstays.

mod benchutil;

use std::io::{Read, Write};
use std::net::TcpListener;

use benchutil::*;
use serde_json::Value;

#[test]
fn bench_tcp_against_duplex_echo_reports_consistent_json() {
    let s = Server::echo(&["tcp://127.0.0.1:0"]);
    let (code, v, err) = bench_json(&[&s.urls[0], "-c", "4", "-d", "1s", "-s", "100"]);
    assert_clean(code, &v, &err);
    assert_eq!(v["transport"], "tcp");
    assert_eq!(v["connections"], 4);
    assert_eq!(v["size"], 100);
}

#[test]
fn bench_with_n_sends_exactly_n_messages_pipelined() {
    let s = Server::echo(&["tcp://127.0.0.1:0"]);
    let (code, v, err) = bench_json(&[
        &s.urls[0],
        "-c",
        "3",
        "-n",
        "1000",
        "--pipeline",
        "7",
        "-s",
        "33",
    ]);
    assert_clean(code, &v, &err);
    assert_eq!(v["messages"], 1000, "{v}");
}

#[test]
fn bench_unix_against_duplex_echo() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("unix://{}", dir.path().join("echo.sock").display());
    let s = Server::echo(&[&url]);
    let (code, v, err) = bench_json(&[
        &s.urls[0],
        "-c",
        "4",
        "-n",
        "2000",
        "--pipeline",
        "4",
        "-s",
        "1000",
    ]);
    assert_clean(code, &v, &err);
    assert_eq!(v["transport"], "unix");
    assert_eq!(v["messages"], 2000);
}

#[test]
fn bench_udp_against_duplex_echo() {
    let s = Server::echo(&["udp://127.0.0.1:0"]);
    let (code, v, err) = bench_json(&[&s.urls[0], "-c", "4", "-n", "2000", "-s", "512"]);
    assert_clean(code, &v, &err);
    assert_eq!(v["transport"], "udp");
    assert_eq!(v["messages"], 2000);
}

#[test]
fn bench_with_warmup_and_text_summary() {
    let s = Server::echo(&["tcp://127.0.0.1:0"]);
    let out = duplex(&[
        "bench", &s.urls[0], "-c", "2", "-d", "500ms", "--warmup", "300ms",
    ]);
    assert_eq!(out.code, Some(0), "{} {}", out.stdout, out.stderr);
    for word in [
        "messages",
        "/s",
        "MB/s",
        "p50",
        "p90",
        "p99",
        "p99.9",
        "max",
        "errors       none",
    ] {
        assert!(
            out.stdout.contains(word),
            "summary lacks '{word}': {}",
            out.stdout
        );
    }
    // No progress line when stderr is not a terminal.
    assert!(out.stderr.is_empty(), "stderr: {}", out.stderr);
}

#[test]
fn bench_connect_rate_and_hold() {
    let s = Server::echo(&["tcp://127.0.0.1:0"]);
    let (code, v, err) = bench_json(&[&s.urls[0], "-c", "2", "-d", "500ms", "--connect-rate"]);
    assert_clean(code, &v, &err);
    assert_eq!(v["mode"], "connect");
    assert!(v["connects"].as_u64().expect("connects") > 0, "{v}");
    assert!(
        v["connects_per_sec"].as_f64().expect("connects_per_sec") > 0.0,
        "{v}"
    );

    let (code, v, err) = bench_json(&[&s.urls[0], "--hold", "50", "-d", "300ms"]);
    assert_clean(code, &v, &err);
    assert_eq!(v["mode"], "hold");
    assert_eq!(v["connects"], 50, "{v}");
    assert!(err.contains("holding 50 connections"), "{err}");
}

#[test]
fn bench_against_socat_echo() {
    let (_socat, url) = Socat::tcp_echo();
    let (code, v, err) = bench_json(&[
        &url,
        "-c",
        "4",
        "-n",
        "2000",
        "--pipeline",
        "2",
        "-s",
        "200",
    ]);
    assert_clean(code, &v, &err);
    assert_eq!(v["messages"], 2000);
}

/// An echo server that flips one bit of the 100th byte of every connection,
/// so exactly one message per connection comes back corrupted.
fn corrupting_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let mut seen = 0usize;
                loop {
                    let n = match stream.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    if seen <= 99 && 99 < seen + n {
                        buf[99 - seen] ^= 0x01;
                    }
                    seen += n;
                    if stream.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

#[test]
fn bench_detects_a_corrupted_byte_and_exits_non_zero() {
    let port = corrupting_server();
    let url = format!("tcp://127.0.0.1:{port}");
    // A duration, not `-n`: the count is shared, and on a busy machine
    // one connection can use all of it before the other has sent its
    // second message, which holds the 100th byte.
    let (code, v, err) = bench_json(&[&url, "-c", "2", "-d", "1s", "-s", "64"]);
    assert_consistent(&v);
    assert_eq!(
        v["errors"]["mismatch"], 2,
        "one corrupted message per connection: {v} {err}"
    );
    assert_eq!(v["errors"]["total"], 2, "{v}");
    assert_ne!(code, Some(0), "errors make the exit status non-zero: {v}");

    // The text summary names the kind too.
    let out = duplex(&["bench", &url, "-c", "1", "-n", "100"]);
    assert_ne!(out.code, Some(0));
    assert!(out.stdout.contains("mismatch 1"), "{}", out.stdout);
}

#[test]
fn bench_counts_a_server_that_closes_as_short_reads() {
    // Accepts, reads a little, closes: every reply is cut short.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut buf = [0u8; 16];
            let _ = stream.read(&mut buf);
        }
    });
    let url = format!("tcp://127.0.0.1:{port}");
    let (code, v, _) = bench_json(&[&url, "-c", "1", "-n", "10", "--timeout", "2s"]);
    assert_consistent(&v);
    let e = &v["errors"];
    assert!(
        e["short_read"].as_u64().unwrap_or(0) + e["reset"].as_u64().unwrap_or(0) > 0,
        "{v}"
    );
    assert_ne!(code, Some(0));
}

#[test]
fn bench_against_nothing_fails_with_one_clear_line() {
    let port = free_port();
    let out = duplex(&["bench", &format!("tcp://127.0.0.1:{port}"), "-d", "1s"]);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert_eq!(
        out.stderr.matches("cannot connect").count(),
        1,
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("connection refused"), "{}", out.stderr);
}

#[test]
fn bad_bench_arguments_are_usage_errors() {
    let url = "tcp://127.0.0.1:9";
    let cases: &[(&[&str], &str)] = &[
        (&["-c", "0"], "--connections"),
        (&["-s", "0"], "--size"),
        (&["--pipeline", "0"], "--pipeline"),
        (&["-n", "0"], "--messages"),
        (&["-d", "0s"], "longer than zero"),
        (&["--timeout", "0"], "longer than zero"),
        (&["-c", "many"], "--connections"),
        (&["--hold", "10", "-c", "5"], "cannot be used with"),
        (&["-s", "1048576", "--pipeline", "4096"], "64 MiB"),
    ];
    for (args, want) in cases {
        assert_usage_error(url, args, want);
    }
    let out = duplex(&["bench", "udp://127.0.0.1:9", "-s", "70000"]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("UDP datagram"), "{}", out.stderr);
}

#[test]
fn bench_ws_binary_and_text_against_duplex_echo() {
    let s = Server::echo(&["ws://127.0.0.1:0/"]);
    let (code, v, err) = bench_json(&[
        &s.urls[0],
        "-c",
        "4",
        "-n",
        "2000",
        "--pipeline",
        "3",
        "-s",
        "200",
    ]);
    assert_clean(code, &v, &err);
    assert_eq!(v["transport"], "ws");
    assert_eq!(v["payload"], "binary");
    assert_eq!(v["messages"], 2000);

    let (code, v, err) = bench_json(&[&s.urls[0], "-c", "2", "-d", "500ms", "--text"]);
    assert_clean(code, &v, &err);
    assert_eq!(v["payload"], "text");
    assert_eq!(v["connections"], 2);

    // Messages larger than tungstenite's buffers and than one read.
    let (code, v, err) = bench_json(&[&s.urls[0], "-c", "2", "-n", "40", "-s", "70000"]);
    assert_clean(code, &v, &err);
    assert_eq!(v["messages"], 40);
}

#[test]
fn bench_ws_hold_completes_the_handshake() {
    let s = Server::echo(&["ws://127.0.0.1:0/"]);
    let (code, v, err) = bench_json(&[&s.urls[0], "--hold", "40", "-d", "300ms"]);
    assert_clean(code, &v, &err);
    assert_eq!(v["mode"], "hold");
    assert_eq!(v["connects"], 40, "{v}");

    // A plain HTTP server is no WebSocket server: nothing is held.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut buf = [0u8; 1024];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n");
        }
    });
    let url = format!("ws://127.0.0.1:{port}/");
    let out = duplex(&["bench", &url, "--hold", "3", "-d", "300ms"]);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(out.stderr.contains("404"), "{}", out.stderr);
}

#[test]
fn bench_tls_and_wss_with_ca() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().to_str().expect("utf-8 path");
    let out = duplex(&["cert", "--out", d, "--host", "localhost"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let cert = format!("{d}/cert.pem");
    let key = format!("{d}/key.pem");
    let s = Server::serve_with(
        "echo",
        &["tls://127.0.0.1:0", "wss://127.0.0.1:0/"],
        &["--tls-cert", &cert, "--tls-key", &key],
    );
    // The certificate is for localhost.
    let urls: Vec<String> = s
        .urls
        .iter()
        .map(|u| u.replace("127.0.0.1", "localhost"))
        .collect();
    for url in &urls {
        let (code, v, err) = bench_json(&[
            url,
            "-c",
            "2",
            "-n",
            "500",
            "--pipeline",
            "2",
            "--ca",
            &cert,
        ]);
        assert_clean(code, &v, &err);
        assert_eq!(v["messages"], 500);
    }
    // Without --ca the self-signed certificate is refused.
    let out = duplex(&["bench", &urls[1], "-n", "10"]);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(out.stderr.contains("certificate"), "{}", out.stderr);
    drop(s);
}

/// A WebSocket echo server that flips one bit in the third message of every
/// connection, so exactly one reply per connection is corrupted.
fn corrupting_ws_server() -> u16 {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                        return;
                    };
                    let mut n = 0;
                    while let Some(Ok(msg)) = ws.next().await {
                        let msg = match msg {
                            Message::Binary(b) => {
                                n += 1;
                                let mut v = b.to_vec();
                                if n == 3 {
                                    v[0] ^= 0x01;
                                }
                                Message::binary(v)
                            }
                            Message::Text(t) => {
                                // A text reply to a text message, but
                                // binary on the third: the wrong type.
                                n += 1;
                                if n == 3 {
                                    Message::binary(t.as_bytes().to_vec())
                                } else {
                                    Message::Text(t)
                                }
                            }
                            _ => continue,
                        };
                        if ws.send(msg).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
    });
    port
}

#[test]
fn bench_ws_detects_a_corrupted_or_mistyped_message() {
    let port = corrupting_ws_server();
    let url = format!("ws://127.0.0.1:{port}/");
    // A duration, not `-n`, as for TCP above: with a shared count one
    // connection could use it all before the other's third message.
    let (code, v, err) = bench_json(&[&url, "-c", "2", "-d", "1s", "-s", "64"]);
    assert_consistent(&v);
    assert_eq!(
        v["errors"]["mismatch"], 2,
        "one corrupted message per connection: {v} {err}"
    );
    assert_eq!(v["errors"]["total"], 2, "{v}");
    assert!(v["messages"].as_u64().is_some_and(|n| n > 2), "{v}");
    assert_ne!(code, Some(0), "errors make the exit status non-zero: {v}");

    let (code, v, err) = bench_json(&[&url, "-c", "1", "-n", "50", "--text"]);
    assert_eq!(
        v["errors"]["mismatch"], 1,
        "a binary reply to text: {v} {err}"
    );
    assert_ne!(code, Some(0));
}

#[test]
fn bench_rate_holds_the_requested_rate_and_plots() {
    let s = Server::echo(&["tcp://127.0.0.1:0"]);
    let plot = std::env::temp_dir().join(format!("duplex-rate-{}.svg", std::process::id()));
    let plot_arg = plot.to_string_lossy().into_owned();
    let (code, v, err) = bench_json(&[
        &s.urls[0], "--rate", "2000", "-c", "4", "-d", "2s", "--plot", &plot_arg,
    ]);
    assert_clean(code, &v, &err);
    assert_eq!(v["mode"], "rate", "{v}");
    assert_eq!(v["rate_target"], 2000.0, "{v}");
    // The schedule: 2 s at 2000/s is 4000 messages, all answered.
    let messages = v["messages"].as_f64().expect("messages");
    assert!(
        (3800.0..=4200.0).contains(&messages),
        "{messages} messages, not within 5% of 2 s at 2000/s: {v}"
    );
    // The window runs to the last reply, so the rate achieved is the
    // schedule's less the last reply's latency, which a busy machine
    // stretches: the rate is checked over the window the report gives.
    let achieved = v["messages_per_sec"].as_f64().expect("messages_per_sec");
    let window = v["duration_secs"].as_f64().expect("duration_secs");
    assert!(
        (messages / window - achieved).abs() <= 1.0,
        "achieved {achieved}/s is not {messages} messages over {window} s: {v}"
    );
    let max_latency = v["latency_us"]["max"].as_f64().expect("latency max") / 1e6;
    assert!(
        (1.99..=2.0 + max_latency + 0.01).contains(&window),
        "a window of {window} s for 2 s and a slowest reply of {max_latency} s: {v}"
    );
    assert!(achieved <= 2100.0, "achieved {achieved}/s over 2000/s: {v}");
    assert!(v["latency_us"]["p99"].as_f64().expect("p99") > 0.0, "{v}");
    let svg = std::fs::read_to_string(&plot).expect("the plot was written");
    let _ = std::fs::remove_file(&plot);
    assert!(svg.starts_with("<svg"), "{svg}");
    assert!(svg.contains("<path") || svg.contains("<polyline"), "{svg}");
    assert!(svg.trim_end().ends_with("</svg>"), "{svg}");
}

#[test]
fn bench_rate_with_n_and_warmup_and_a_closed_loop_plot() {
    let s = Server::echo(&["tcp://127.0.0.1:0"]);
    let out = duplex(&[
        "bench", &s.urls[0], "--rate", "1000", "-c", "2", "-n", "300", "--warmup", "200ms",
    ]);
    assert_eq!(out.code, Some(0), "{} {}", out.stdout, out.stderr);
    assert!(out.stdout.contains("open-loop bench"), "{}", out.stdout);
    assert!(out.stdout.contains("messages     300 "), "{}", out.stdout);
    assert!(out.stdout.contains("achieved of 1000/s"), "{}", out.stdout);

    let plot = std::env::temp_dir().join(format!("duplex-closed-{}.svg", std::process::id()));
    let plot_arg = plot.to_string_lossy().into_owned();
    let (code, v, err) = bench_json(&[&s.urls[0], "-c", "2", "-n", "500", "--plot", &plot_arg]);
    assert_clean(code, &v, &err);
    let svg = std::fs::read_to_string(&plot).expect("the plot was written");
    let _ = std::fs::remove_file(&plot);
    assert!(svg.starts_with("<svg") && svg.contains("<path"), "{svg}");
}

#[test]
fn bench_rate_over_udp_and_ws() {
    let s = Server::echo(&["udp://127.0.0.1:0", "ws://127.0.0.1:0/"]);
    for url in &s.urls {
        let (code, v, err) = bench_json(&[url, "--rate", "1000", "-c", "2", "-n", "200"]);
        assert_clean(code, &v, &err);
        assert_eq!(v["messages"], 200, "{v}");
    }
}

#[test]
fn bad_rate_and_plot_combinations_are_usage_errors() {
    let url = "tcp://127.0.0.1:9";
    let cases: &[(&[&str], &str)] = &[
        (&["--rate", "100", "--pipeline", "4"], "cannot be used with"),
        (&["--rate", "100", "--connect-rate"], "cannot be used with"),
        (&["--rate", "100", "--hold", "3"], "cannot be used with"),
        (&["--rate", "0"], "not a rate"),
        (&["--rate", "fast"], "not a rate"),
        (&["--hold", "3", "--plot", "x.svg"], "cannot be used with"),
    ];
    for (args, want) in cases {
        assert_usage_error(url, args, want);
    }
}

// ---------------------------------------------------------------------------
// --request: the line services

/// Bytes per reply implied by `mb_per_sec` and `messages_per_sec`.
fn reply_bytes(v: &Value) -> f64 {
    let mb = v["mb_per_sec"].as_f64().expect("mb_per_sec");
    let per_sec = v["messages_per_sec"].as_f64().expect("messages_per_sec");
    mb * 1e6 / per_sec
}

#[test]
fn bench_request_random_over_tcp_udp_and_ws() {
    let s = Server::serve(
        "random",
        &[
            "tcp://127.0.0.1:0",
            "udp://127.0.0.1:0",
            "ws://127.0.0.1:0/",
        ],
    );
    // "1 6" is answered with one digit: "3\n" on tcp and udp, "3" on ws.
    for (url, bytes) in s.urls.iter().zip([2.0, 2.0, 1.0]) {
        let (code, v, err) = bench_json(&[
            url,
            "--request",
            "1 6",
            "-c",
            "3",
            "-n",
            "3000",
            "--pipeline",
            "2",
        ]);
        assert_clean(code, &v, &err);
        assert_eq!(v["messages"], 3000, "{v}");
        assert_eq!(v["request"], "1 6", "{v}");
        assert_eq!(v["payload"], "request", "{v}");
        assert_eq!(v["greeting"], false, "{v}");
        assert_eq!(v["errors"]["bad_reply"], 0, "{v}");
        assert_eq!(v["pipeline"], 2, "{v}");
        // MB/s counts reply bytes (rounded to 1 kB/s, hence the margin).
        if v["messages_per_sec"].as_f64().expect("rate") > 5000.0 {
            let b = reply_bytes(&v);
            assert!((b - bytes).abs() < 0.5, "{b} bytes per reply on {url}: {v}");
        }
    }
    // The empty request (one number from the server range) over udp is an
    // empty datagram, and over ws an empty text message: both answered.
    for url in &s.urls {
        let (code, v, err) = bench_json(&[url, "--request", "", "-c", "2", "-d", "300ms"]);
        assert_clean(code, &v, &err);
        assert_eq!(v["request"], "", "{v}");
        assert_eq!(v["size"], 0, "{v}");
    }
}

#[test]
fn bench_request_counter_closed_open_loop_and_connect_rate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let unix = format!("unix://{}", dir.path().join("counter.sock").display());
    let s = Server::serve(
        "counter",
        &["tcp://127.0.0.1:0", &unix, "ws://127.0.0.1:0/"],
    );
    for url in &s.urls {
        let (code, v, err) = bench_json(&[
            url,
            "--request",
            "count",
            "-c",
            "4",
            "-d",
            "500ms",
            "--warmup",
            "200ms",
        ]);
        assert_clean(code, &v, &err);
        assert_eq!(v["mode"], "closed", "{v}");
        assert_eq!(v["request"], "count", "{v}");

        let (code, v, err) = bench_json(&[
            url,
            "--request",
            "count",
            "--rate",
            "1000",
            "-c",
            "2",
            "-n",
            "200",
        ]);
        assert_clean(code, &v, &err);
        assert_eq!(v["mode"], "rate", "{v}");
        assert_eq!(v["messages"], 200, "{v}");
    }
    let (code, v, err) = bench_json(&[
        &s.urls[0],
        "--request",
        "count",
        "--connect-rate",
        "-c",
        "2",
        "-d",
        "500ms",
    ]);
    assert_clean(code, &v, &err);
    assert_eq!(v["mode"], "connect", "{v}");
    assert_eq!(
        v["connects"], v["messages"],
        "one request per connection: {v}"
    );
}

#[test]
fn bench_request_daytime_reads_the_greeting_first() {
    let s = Server::serve("daytime", &["tcp://127.0.0.1:0", "ws://127.0.0.1:0/"]);
    for url in &s.urls {
        let (code, v, err) = bench_json(&[
            url,
            "--request",
            "now",
            "--greeting",
            "-c",
            "3",
            "-n",
            "900",
            "--pipeline",
            "3",
        ]);
        assert_clean(code, &v, &err);
        assert_eq!(v["messages"], 900, "greetings are not messages: {v}");
        assert_eq!(v["greeting"], true, "{v}");
        // RFC 3339 times: 25 characters, or more with fractions or a name.
        if v["messages_per_sec"].as_f64().expect("rate") > 5000.0 {
            assert!(reply_bytes(&v) >= 20.0, "{v}");
        }

        // Reconnects read the greeting too: every connection is new.
        let (code, v, err) = bench_json(&[
            url,
            "--request",
            "now",
            "--greeting",
            "--connect-rate",
            "-c",
            "2",
            "-d",
            "300ms",
        ]);
        assert_clean(code, &v, &err);
        assert_eq!(v["connects"], v["messages"], "{v}");
    }

    // Without --greeting the greeting is taken for the first reply, so the
    // replies run one behind the requests: the bench notices whenever two
    // of them arrive together (a surplus reply), which 200 rounds make sure of.
    let (code, v, _) = bench_json(&[&s.urls[0], "--request", "now", "-c", "1", "-n", "200"]);
    assert_consistent(&v);
    assert!(
        v["errors"]["bad_reply"].as_u64().expect("bad_reply") > 0,
        "{v}"
    );
    assert_eq!(code, Some(1), "{v}");

    // A server that sends no greeting: waiting for it times out.
    let r = Server::serve("random", &["tcp://127.0.0.1:0"]);
    let out = duplex(&[
        "bench",
        &r.urls[0],
        "--request",
        "",
        "--greeting",
        "-c",
        "2",
        "-n",
        "10",
        "--timeout",
        "300ms",
    ]);
    assert_eq!(out.code, Some(1), "{} {}", out.stdout, out.stderr);
    assert!(out.stderr.contains("cannot connect"), "{}", out.stderr);
}

#[test]
fn bench_request_err_replies_are_bad_replies_and_exit_1() {
    let s = Server::serve(
        "random",
        &[
            "tcp://127.0.0.1:0",
            "udp://127.0.0.1:0",
            "ws://127.0.0.1:0/",
        ],
    );
    for url in &s.urls {
        // LO > HI: every reply is "ERR LO 5 is greater than HI 1".
        let (code, v, err) = bench_json(&[url, "--request", "5 1", "-c", "2", "-n", "50"]);
        assert_consistent(&v);
        assert_eq!(v["errors"]["bad_reply"], 50, "{v} {err}");
        assert_eq!(v["errors"]["total"], 50, "{v}");
        assert_eq!(v["messages"], 0, "{v}");
        assert_eq!(code, Some(1), "{v}");
    }
    // Three replies to one request are not one reply.
    let (code, v, _) = bench_json(&[&s.urls[0], "--request", "3", "-c", "1", "-n", "20"]);
    assert!(
        v["errors"]["bad_reply"].as_u64().expect("bad_reply") > 0,
        "{v}"
    );
    assert_eq!(code, Some(1), "{v}");
    // The text summary names the kind.
    let out = duplex(&["bench", &s.urls[0], "--request", "0", "-n", "10"]);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(out.stdout.contains("bad_reply 10"), "{}", out.stdout);
    assert!(out.stdout.contains("request \"0\""), "{}", out.stdout);
}

#[test]
fn bench_request_cuts_off_a_reply_line_that_never_ends() {
    // Answers the first request with 1 MiB without a line break.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut buf = [0u8; 64];
                if stream.read(&mut buf).unwrap_or(0) == 0 {
                    return;
                }
                let chunk = [b'7'; 16 * 1024];
                for _ in 0..64 {
                    if stream.write_all(&chunk).is_err() {
                        return;
                    }
                }
            });
        }
    });
    let url = format!("tcp://127.0.0.1:{port}");
    let (code, v, err) = bench_json(&[&url, "--request", "x", "-c", "1", "-n", "1"]);
    assert_consistent(&v);
    assert_eq!(v["errors"]["bad_reply"], 1, "{v} {err}");
    assert_eq!(v["messages"], 0, "{v}");
    assert_eq!(code, Some(1), "{v}");
}

#[test]
fn bench_echo_reports_no_request() {
    let s = Server::echo(&["tcp://127.0.0.1:0"]);
    let (code, v, err) = bench_json(&[&s.urls[0], "-c", "1", "-n", "100"]);
    assert_clean(code, &v, &err);
    assert!(v["request"].is_null(), "{v}");
    assert_eq!(v["errors"]["bad_reply"], 0, "{v}");
    assert_eq!(v["payload"], "binary", "{v}");
}

#[test]
fn bad_request_combinations_are_usage_errors() {
    let cases: &[(&str, &[&str], &str)] = &[
        (
            "tcp://127.0.0.1:9",
            &["--request", "x", "-s", "100"],
            "cannot be used with",
        ),
        (
            "tcp://127.0.0.1:9",
            &["--request", "x", "--text"],
            "cannot be used with",
        ),
        (
            "tcp://127.0.0.1:9",
            &["--request", "x", "--hold", "3"],
            "cannot be used with",
        ),
        ("tcp://127.0.0.1:9", &["--greeting"], "--request"),
        ("tcp://127.0.0.1:9", &["--request", "a\nb"], "line break"),
        (
            "udp://127.0.0.1:9",
            &["--request", "x", "--greeting"],
            "UDP has no connections",
        ),
    ];
    for (url, args, want) in cases {
        assert_usage_error(url, args, want);
    }
}
