//! How a `duplex connect` session ends: a closed stdout (`| head -2`) ends
//! it quietly with exit 0; Ctrl-C (a real SIGINT) exits 130 on every
//! transport, after a WebSocket close 1000; stderr says who closed a
//! WebSocket session, with no trailing space.

mod common;
mod connect_peers;
mod tlsutil;

use std::io::{Read, Write};
use std::process::{ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use connect_peers::*;
use serde_json::json;
use tlsutil::{make_cert, tls_args};

/// `duplex serve SERVICE` on tcp, unix, udp, tls, ws and wss; returns it
/// with the `duplex connect` arguments for each URL.
fn serve_everywhere(service: &str, dir: &std::path::Path) -> (Server, Vec<Vec<String>>) {
    let cert = make_cert(dir);
    let unix = unix_url(dir, "s.sock");
    let urls = [
        "tcp://127.0.0.1:0",
        &unix,
        "udp://127.0.0.1:0",
        "tls://127.0.0.1:0",
        "ws://127.0.0.1:0/s",
        "wss://127.0.0.1:0/s",
    ];
    let tls = tls_args(&cert);
    let extra: Vec<&str> = tls.iter().map(String::as_str).collect();
    let s = Server::serve(service, &urls, &extra);
    let ca = cert.cert.display().to_string();
    let args = s
        .listening
        .iter()
        .map(|(_, url)| {
            let mut a = vec![url.clone()];
            if url.starts_with("tls") || url.starts_with("wss") {
                a.extend(["--ca".to_string(), ca.clone()]);
            }
            a
        })
        .collect();
    (s, args)
}

/// `duplex connect ARGS | head -2` with `request` on connect's stdin,
/// which stays open: only the closed pipe can end the session. Returns
/// what head printed, connect's exit status and its stderr.
fn into_head(args: &[String], request: &[u8]) -> (String, ExitStatus, String) {
    let mut cmd = connect(&args.iter().map(String::as_str).collect::<Vec<_>>());
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn duplex connect");
    let mut stdin = child.stdin.take().expect("stdin");
    let stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let head = tool("head", "coreutils")
        .arg("-2")
        .stdin(Stdio::from(stdout))
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn head");
    let errors = thread::spawn(move || {
        let mut e = String::new();
        let _ = stderr.read_to_string(&mut e);
        e
    });
    stdin.write_all(request).expect("write the request");
    let head_out = head.wait_with_output().expect("head's output");
    let status = wait_child(&mut child, WAIT);
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("{args:?}: still running {WAIT:?} after head exited");
    };
    drop(stdin);
    let stderr = errors.join().expect("stderr reader");
    (
        String::from_utf8_lossy(&head_out.stdout).into_owned(),
        status,
        stderr,
    )
}

#[test]
fn a_closed_stdout_ends_the_session_quietly_with_0_on_every_transport() {
    let dir = tempdir();
    let (_s, all) = serve_everywhere("random", dir.path());
    for args in all {
        let (printed, status, stderr) = into_head(&args, b"100000\n");
        assert_eq!(printed.lines().count(), 2, "{args:?}: {printed:?}");
        assert_eq!(status.code(), Some(0), "{args:?}: {stderr}");
        assert!(stderr.is_empty(), "{args:?} blamed someone: {stderr}");
    }
}

/// Connects with `args`, checks one echo, sends SIGINT; returns the exit
/// status and stderr.
fn interrupt_after_an_echo(args: &[String]) -> (ExitStatus, String) {
    let mut c = Interactive::spawn(connect(
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    ));
    c.write(b"ping\n");
    assert_eq!(c.read_line(WAIT), "ping", "{args:?}");
    wait_for_sigint_handler(c.child.id());
    sigint(c.child.id());
    let status = c
        .wait(Duration::from_secs(3))
        .unwrap_or_else(|| panic!("{args:?}: still running after SIGINT"));
    (status, c.stderr_to_end())
}

#[test]
fn ctrl_c_exits_130_on_every_transport() {
    let dir = tempdir();
    let (_s, all) = serve_everywhere("echo", dir.path());
    for args in all {
        let (status, stderr) = interrupt_after_an_echo(&args);
        assert_eq!(status.code(), Some(130), "{args:?}: {stderr}");
        assert_no_trailing_space(&stderr);
        if args[0].starts_with("ws") {
            assert_eq!(stderr, "duplex: closed: 1000 (normal)\n", "{args:?}");
        } else {
            assert!(stderr.is_empty(), "{args:?}: {stderr}");
        }
    }
}

#[test]
fn ctrl_c_closes_a_websocket_with_1000_first() {
    let mut srv = WsPeer::echo();
    let (status, stderr) = interrupt_after_an_echo(&[srv.url("/")]);
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert_eq!(srv.close_event(), json!({"close": 1000}));
}

#[test]
fn ctrl_c_while_connecting_exits_130() {
    let backlog = full_backlog();
    let mut c = Interactive::spawn(connect(&[&format!("tcp://{}", backlog.addr)]));
    wait_for_sigint_handler(c.child.id());
    let start = Instant::now();
    sigint(c.child.id());
    let status = c.wait(Duration::from_secs(3)).expect("exits after SIGINT");
    assert_eq!(status.code(), Some(130), "{}", c.stderr_to_end());
    assert!(start.elapsed() < Duration::from_secs(2));
    assert!(c.stderr_to_end().is_empty(), "{}", c.stderr_to_end());
}

#[test]
fn websocket_stdin_eof_says_the_client_closed() {
    let mut srv = WsPeer::echo();
    let out = run_with_input(connect(&[&srv.url("/")]), b"", WAIT);
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert_eq!(out.stderr, "duplex: closed: 1000 (normal)\n");
    assert_eq!(srv.close_event(), json!({"close": 1000}));
}

#[test]
fn websocket_server_closes_are_said_to_come_from_the_server() {
    // Stdin stays open: the server closes first.
    let s = Server::serve("counter", &["ws://127.0.0.1:0/c"], &[]);
    let mut c = Interactive::spawn(connect(&[s.url(0)]));
    c.write(b"\nSTOP\n");
    assert_eq!(c.read_line(WAIT), "1");
    let status = c.wait(WAIT).expect("exits when the server closes");
    assert_eq!(status.code(), Some(0), "{}", c.stderr_to_end());
    assert_eq!(
        c.stderr_to_end(),
        "duplex: closed by the server: 1000 STOP\n"
    );

    let mut s = Server::serve("echo", &["ws://127.0.0.1:0/e"], &[]);
    let mut c = Interactive::spawn(connect(&[s.url(0)]));
    c.write(b"hi\n");
    assert_eq!(c.read_line(WAIT), "hi");
    s.signal(libc::SIGTERM);
    let status = c.wait(WAIT).expect("exits when the server shuts down");
    assert_eq!(status.code(), Some(0), "{}", c.stderr_to_end());
    assert_eq!(
        c.stderr_to_end(),
        "duplex: closed by the server: 1001 server shutting down\n"
    );
    assert!(s.wait_exit(WAIT).is_some());
}

#[test]
fn an_abnormal_close_code_is_exit_1_with_one_line() {
    for (code, reason, said) in [
        ("1011", None, "1011 (internal error)"),
        ("4000", Some("custom reason"), "4000 custom reason"),
    ] {
        let mut args = vec!["close", code];
        args.extend(reason);
        let srv = WsPeer::with(&args);
        let mut c = Interactive::spawn(connect(&[&srv.url("/")]));
        let status = c.wait(WAIT).expect("exits when the server closes");
        assert_eq!(status.code(), Some(1), "{}", c.stderr_to_end());
        assert_eq!(
            c.stderr_to_end(),
            format!("duplex: closed by the server: {said}\n")
        );
    }
}

#[test]
fn a_close_the_server_never_answers_is_said_and_ends_within_a_second() {
    let mut srv = WsPeer::with(&["deaf"]);
    let start = Instant::now();
    let out = run_with_input(connect(&[&srv.url("/")]), b"", WAIT);
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert_eq!(
        out.stderr,
        "duplex: closed: 1000 (normal); the server did not answer\n"
    );
    assert_eq!(srv.next()["request"], "/");
    assert!(
        start.elapsed() < Duration::from_millis(2500),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn websocket_messages_arriving_during_the_close_are_all_printed() {
    // The replies are still on their way when stdin ends and the close
    // starts: the server sends them before its answer to the close.
    let s = Server::serve("random", &["ws://127.0.0.1:0/r"], &[]);
    let out = run_with_input(connect(&[s.url(0)]), b"5000 7 7\n", WAIT);
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    let text = out.stdout_str();
    assert_eq!(text.lines().count(), 5000, "{}", out.stderr);
    assert!(text.lines().all(|l| l == "7"));
    assert_eq!(out.stderr, "duplex: closed: 1000 (normal)\n");
}
