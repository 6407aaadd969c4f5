//! Helpers of the `duplex bench` tests: run the binary with a time limit,
//! parse and check its JSON report, start `duplex serve` and socat.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Longest any bench run in these tests may take.
pub const LIMIT: Duration = Duration::from_secs(30);

pub struct Out {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `duplex ARGS`, killing it (and failing the test) after `LIMIT`.
pub fn duplex(args: &[&str]) -> Out {
    let mut child = Command::new(env!("CARGO_BIN_EXE_duplex"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start duplex");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if start.elapsed() > LIMIT {
            let _ = child.kill();
            panic!("duplex {args:?} ran longer than {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Out {
        code: status.code(),
        stdout: out_reader.join().expect("stdout"),
        stderr: err_reader.join().expect("stderr"),
    }
}

/// Runs a bench with `--json` and returns its exit code and parsed result.
pub fn bench_json(args: &[&str]) -> (Option<i32>, Value, String) {
    let mut all = vec!["bench"];
    all.extend_from_slice(args);
    all.push("--json");
    let out = duplex(&all);
    let lines: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(
        lines.len(),
        1,
        "exactly one JSON line on stdout: {:?} (stderr: {})",
        out.stdout,
        out.stderr
    );
    let v: Value =
        serde_json::from_str(lines[0]).unwrap_or_else(|e| panic!("not JSON ({e}): {}", lines[0]));
    (out.code, v, out.stderr)
}

/// `duplex bench URL ARGS…` is a usage error: exit 2, `want` in the
/// message, nothing on stdout.
pub fn assert_usage_error(url: &str, args: &[&str], want: &str) {
    let mut all = vec!["bench", url];
    all.extend_from_slice(args);
    let out = duplex(&all);
    assert_eq!(out.code, Some(2), "{args:?}: {}", out.stderr);
    assert!(
        out.stderr.contains(want),
        "{args:?}: '{want}' missing from: {}",
        out.stderr
    );
    assert!(out.stdout.is_empty(), "{args:?}");
}

/// Checks the keys of docs/behaviour.md, "Benchmarking", and that they
/// agree with each other.
pub fn assert_consistent(v: &Value) {
    for key in [
        "messages",
        "messages_per_sec",
        "mb_per_sec",
        "errors",
        "latency_us",
    ] {
        assert!(!v[key].is_null(), "key {key} missing: {v}");
    }
    let errors = v["errors"].as_object().expect("errors is an object");
    let total = errors["total"].as_u64().expect("errors.total");
    let sum: u64 = errors
        .iter()
        .filter(|(k, _)| k.as_str() != "total")
        .map(|(_, n)| n.as_u64().expect("count"))
        .sum();
    assert_eq!(total, sum, "errors.total is the sum of the kinds: {v}");
    let lat = &v["latency_us"];
    let p = |k: &str| {
        lat[k]
            .as_f64()
            .unwrap_or_else(|| panic!("latency_us.{k} missing: {v}"))
    };
    if v["messages"].as_u64().expect("messages") > 0 {
        assert!(
            p("p50") <= p("p90")
                && p("p90") <= p("p99")
                && p("p99") <= p("p99_9")
                && p("p99_9") <= p("max"),
            "{v}"
        );
        assert!(p("p50") > 0.0, "{v}");
        assert!(
            v["messages_per_sec"].as_f64().expect("messages_per_sec") > 0.0,
            "{v}"
        );
        assert!(v["mb_per_sec"].as_f64().expect("mb_per_sec") > 0.0, "{v}");
    }
}

pub fn assert_clean(code: Option<i32>, v: &Value, stderr: &str) {
    assert_consistent(v);
    assert_eq!(v["errors"]["total"], 0, "{v} {stderr}");
    assert!(v["messages"].as_u64().expect("messages") > 0, "{v}");
    assert_eq!(code, Some(0), "{v} {stderr}");
}

/// A `duplex serve` child, killed on drop.
pub struct Server {
    pub child: Child,
    pub urls: Vec<String>,
    /// The `--metrics` listener, when asked for.
    pub metrics: Option<String>,
}

impl Server {
    pub fn echo(urls: &[&str]) -> Server {
        Server::serve("echo", urls)
    }

    /// `duplex serve SERVICE URLS…`, once every listener is announced.
    pub fn serve(service: &str, urls: &[&str]) -> Server {
        Server::serve_with(service, urls, &[])
    }

    /// `duplex serve echo URLS… --metrics tcp://127.0.0.1:0`.
    pub fn echo_with_metrics(urls: &[&str]) -> Server {
        Server::serve_with("echo", urls, &["--metrics", "tcp://127.0.0.1:0"])
    }

    /// The server's `duplex_connections_accepted_total` for a transport.
    pub fn accepted(&self, transport: &str) -> u64 {
        let url = self.metrics.as_deref().expect("started with --metrics");
        let addr = url.trim_start_matches("tcp://");
        let mut s = TcpStream::connect(addr).expect("connect to /metrics");
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .expect("request /metrics");
        let mut body = String::new();
        let _ = s.read_to_string(&mut body);
        let key = format!(
            "duplex_connections_accepted_total{{service=\"echo\",transport=\"{transport}\"}} "
        );
        body.lines()
            .find_map(|l| l.strip_prefix(key.as_str()))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {key} in {body}"))
    }

    /// `duplex serve SERVICE URLS… EXTRA…`, once every listener is announced.
    pub fn serve_with(service: &str, urls: &[&str], extra: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_duplex"))
            .args(["-q", "serve", service])
            .args(urls)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start duplex serve");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout"));
        let mut real = Vec::new();
        let mut metrics = None;
        while real.len() < urls.len() {
            let mut line = String::new();
            if lines.read_line(&mut line).expect("read listening line") == 0 {
                panic!("server exited before listening");
            }
            if let Some(url) = line.trim().strip_prefix("listening metrics ") {
                metrics = Some(url.to_string());
            }
            let prefix = format!("listening {service} ");
            if let Some(url) = line.trim().strip_prefix(prefix.as_str()) {
                real.push(url.to_string());
            }
        }
        Server {
            child,
            urls: real,
            metrics,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free TCP port on 127.0.0.1 (bound, then released for socat to take).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// socat as the echo server, killed on drop.
pub struct Socat(pub Child);

impl Drop for Socat {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Socat {
    /// socat as a forking TCP echo server on a free port (a process per
    /// connection, echoing through a pipe), once it listens; and its URL.
    pub fn tcp_echo() -> (Socat, String) {
        let port = free_port();
        let child = Command::new("socat")
            .arg(format!("TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork"))
            .arg("PIPE")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("socat is needed for this test and could not be started ({e}): apt-get install -y socat")
            });
        let socat = Socat(child);
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "socat did not listen on port {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        (socat, format!("tcp://127.0.0.1:{port}"))
    }
}
