//! `--reuse-port` (docs/behaviour.md, "Many instances"): several processes
//! share a port and each serves a share of the clients, and a rolling
//! restart (start the new process, then SIGTERM the old one) under a steady
//! stream of new connections refuses none and loses no echo.

mod common;
mod fleet;

use std::net::{SocketAddr, UdpSocket};
use std::process::Stdio;
use std::thread::sleep;
use std::time::Duration;

use common::*;
use fleet::*;

/// Two `counter` servers on one port: each counts only its own clients, so
/// a reply of `1` comes once from each server that served anyone.
fn two_counters(url: &str) -> (Server, Server, String) {
    let a = Server::serve("counter", &[url], &["--reuse-port"]);
    let shared = a.url(0).to_string();
    let b = Server::serve("counter", &[&shared], &["--reuse-port"]);
    assert_eq!(b.url(0), shared);
    (a, b, shared)
}

fn firsts(replies: &[String]) -> usize {
    replies.iter().filter(|r| r.as_str() == "1").count()
}

#[test]
fn two_instances_share_a_tcp_port_and_both_serve() {
    let (_a, _b, url) = two_counters("tcp://127.0.0.1:0");
    let addr = socket_addr(&url);
    let replies: Vec<String> = (0..64)
        .map(|_| {
            ask_line(
                &mut connect_from([127, 0, 0, 1], addr).expect("connect"),
                "",
            )
            .expect("reply")
        })
        .collect();
    assert_eq!(firsts(&replies), 2, "{replies:?}");
}

#[test]
fn two_instances_share_a_udp_port_and_both_serve() {
    let (_a, _b, url) = two_counters("udp://127.0.0.1:0");
    let addr = socket_addr(&url);
    let replies: Vec<String> = (0..64)
        .map(|_| {
            let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
            s.set_read_timeout(Some(WAIT)).expect("timeout");
            s.send_to(b"\n", addr).expect("send");
            let mut buf = [0u8; 64];
            let n = s.recv(&mut buf).expect("a reply");
            String::from_utf8_lossy(&buf[..n]).trim().to_string()
        })
        .collect();
    assert_eq!(firsts(&replies), 2, "{replies:?}");
}

#[test]
fn two_instances_share_a_websocket_port_and_both_serve() {
    let (_a, _b, url) = two_counters("ws://127.0.0.1:0/count");
    let addr: SocketAddr = url
        .trim_start_matches("ws://")
        .trim_end_matches("/count")
        .parse()
        .expect("addr");
    let replies: Vec<String> = (0..64)
        .map(|_| {
            let mut s = connect_from([127, 0, 0, 1], addr).expect("connect");
            ws_handshake(&mut s, "/count").expect("handshake");
            ws_ask(&mut s, "").expect("reply")
        })
        .collect();
    assert_eq!(firsts(&replies), 2, "{replies:?}");
}

#[test]
fn reuse_port_is_refused_on_a_unix_listener() {
    let dir = tempdir();
    let out = run_duplex(
        &[
            "serve",
            "echo",
            &unix_url(dir.path(), "e.sock"),
            "--reuse-port",
        ],
        WAIT,
    );
    assert_eq!(out.code(), Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains("--reuse-port is for tcp"),
        "{}",
        out.stderr
    );
}

#[test]
fn without_reuse_port_a_second_instance_is_refused() {
    let a = Server::serve("echo", &["tcp://127.0.0.1:0"], &[]);
    let out = run_duplex(&["serve", "echo", a.url(0), "--reuse-port"], WAIT);
    assert_eq!(out.code(), Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains("address already in use"),
        "{}",
        out.stderr
    );
}

/// The restart the contract promises: two instances share the port; each
/// in turn is replaced by a new one (started first, then the old one gets
/// SIGTERM) while `duplex bench --connect-rate` opens connection after
/// connection, each with one echo. In a network namespace of its own with
/// `net.ipv4.tcp_migrate_req = 1`, which hands what a closing listener
/// still holds to the others (see src/server/reuse_port.rs).
#[test]
fn rolling_restart_under_connect_load_refuses_nothing_and_loses_no_echo() {
    let ns = Netns::new(&[("net.ipv4.tcp_migrate_req", "1")]);
    let url = "tcp://127.0.0.1:7007";
    let start = || {
        let mut cmd = ns.duplex();
        cmd.args(["serve", "echo", url, "--reuse-port"]);
        Server::try_start_cmd(cmd, 1).expect("an instance starts")
    };
    let mut old = [start(), start()];
    let mut bench = ns.duplex();
    bench
        .args([
            "bench",
            url,
            "--connect-rate",
            "-c",
            "4",
            "-d",
            "5s",
            "--json",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let bench = bench.spawn().expect("spawn bench");
    let mut new = Vec::new();
    for server in &mut old {
        sleep(Duration::from_millis(1200));
        new.push(start());
        server.signal(libc::SIGTERM);
        let status = server.wait_exit(WAIT).expect("the old instance exits");
        assert_eq!(status.code(), Some(0), "stderr: {}", server.stderr());
        let served = server.stderr().matches("session closed").count();
        assert!(served > 0, "the old instance served nobody");
    }
    let out = bench.wait_with_output().expect("bench");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "bench --json: {e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let errors = &report["errors"];
    let connects = report["connects"].as_u64().unwrap_or(0);
    assert_eq!(errors["total"], 0, "errors during the restarts: {errors}");
    assert!(connects > 1000, "only {connects} connections: {report}");
    assert_eq!(report["messages"].as_u64(), Some(connects), "{report}");
    for server in &new {
        assert!(server.stderr().matches("session closed").count() > 0);
    }
}
