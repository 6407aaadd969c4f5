//! Limits (docs/behaviour.md, "Limits"): --max-line, --max-connections,
//! --idle-timeout, backpressure (bounded memory) and concurrency.

mod common;

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::*;

#[test]
fn over_long_line_gets_err_and_the_session_goes_on() {
    let s = Server::serve("random", &["tcp://127.0.0.1:0"], &["--max-line", "16"]);
    let mut c = Conn::tcp(s.addr(0));
    // Exactly at the limit is fine.
    assert_eq!(c.ask("1 5 5           "), "5");
    c.send_line("1 1 1 1 1 1 1 1 1 1 1");
    let reply = c.read_line();
    assert!(reply.starts_with("ERR ") && reply.contains("16"), "{reply}");
    // The rest of that line was discarded (not read as requests), and the
    // next request is answered.
    assert_eq!(c.ask("6 6"), "6");
    c.expect_silence(Duration::from_millis(200));
}

#[test]
fn over_long_line_in_many_pieces_gets_one_err() {
    let s = Server::serve("random", &["tcp://127.0.0.1:0"], &["--max-line", "1000"]);
    let mut c = Conn::tcp(s.addr(0));
    let mut writer = c.s.try_clone_box().expect("clone");
    let sender = thread::spawn(move || {
        // 4 MB of "1 1 1 …" on one line, then a good request.
        let chunk = "1 ".repeat(32 * 1024);
        for _ in 0..64 {
            writer.write_all(chunk.as_bytes()).expect("send");
        }
        writer.write_all(b"\n2 7 7\n").expect("send");
    });
    let reply = c.read_line();
    assert!(reply.starts_with("ERR "), "{reply}");
    assert_eq!(c.read_line(), "7", "exactly one ERR, then the next request");
    assert_eq!(c.read_line(), "7");
    sender.join().expect("sender");
    c.expect_silence(Duration::from_millis(200));
}

#[test]
fn over_long_line_on_unix_and_for_every_line_service() {
    let dir = tempdir();
    for service in ["daytime", "counter"] {
        let url = unix_url(dir.path(), &format!("{service}.sock"));
        let s = Server::serve(service, &[&url], &["--max-line", "10"]);
        let mut c = Conn::unix(&s.path(0));
        if service == "daytime" {
            c.read_line();
        }
        assert!(c.ask(&"x".repeat(11)).starts_with("ERR "), "{service}");
        assert!(!c.ask("ok").starts_with("ERR"), "{service}");
    }
}

#[test]
fn max_connections_refuses_the_extra_client_at_once_with_server_busy() {
    let dir = tempdir();
    let unix = unix_url(dir.path(), "r.sock");
    let s = Server::serve(
        "random",
        &["tcp://127.0.0.1:0", &unix],
        &["--max-connections", "2"],
    );
    // The limit counts sessions over all listeners.
    let mut a = Conn::tcp(s.addr(0));
    let mut b = Conn::unix(&s.path(1));
    assert_eq!(a.ask("1 1"), "1");
    assert_eq!(b.ask("2 2"), "2");
    for url in [s.url(0), s.url(1)] {
        let start = Instant::now();
        let mut extra = Conn::to(url);
        let line = extra.read_line();
        assert!(line.starts_with("ERR server busy"), "{line}");
        extra.expect_eof(WAIT);
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "refused at once, not after {:?}",
            start.elapsed()
        );
    }
    // The admitted clients are unharmed.
    assert_eq!(a.ask("3 3"), "3");
    // After a client leaves, a new one is admitted.
    drop(b);
    let admitted = eventually(WAIT, || {
        let mut c = Conn::tcp(s.addr(0));
        c.ask("4 4") == "4"
    });
    assert!(admitted, "no client admitted after one left");
}

#[test]
fn max_connections_refusal_reaches_a_client_that_sends_first() {
    let s = Server::serve("echo", &["tcp://127.0.0.1:0"], &["--max-connections", "1"]);
    let mut a = Conn::tcp(s.addr(0));
    assert_eq!(a.ask("hi"), "hi");
    let mut extra = Conn::tcp(s.addr(0));
    extra.send_line("hello?");
    let line = extra.read_line();
    assert!(line.starts_with("ERR server busy"), "{line}");
    extra.expect_eof(WAIT);
}

#[test]
fn idle_session_is_closed_after_the_idle_timeout() {
    let dir = tempdir();
    let unix = unix_url(dir.path(), "i.sock");
    for service in ["random", "echo", "daytime"] {
        let s = Server::serve(
            service,
            &["tcp://127.0.0.1:0", &unix],
            &["--idle-timeout", "500ms"],
        );
        for url in [s.url(0), s.url(1)] {
            let mut c = Conn::to(url);
            if service == "daytime" {
                c.read_line();
            }
            let start = Instant::now();
            c.expect_eof(Duration::from_secs(5));
            let took = start.elapsed();
            assert!(
                took >= Duration::from_millis(400) && took < Duration::from_secs(3),
                "{service} {url}: closed after {took:?}, expected about 500ms"
            );
        }
    }
}

#[test]
fn traffic_keeps_a_session_open_past_the_idle_timeout() {
    let s = Server::serve(
        "random",
        &["tcp://127.0.0.1:0"],
        &["--idle-timeout", "600ms"],
    );
    let mut c = Conn::tcp(s.addr(0));
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(1800) {
        assert_eq!(c.ask("1 1"), "1");
        thread::sleep(Duration::from_millis(200));
    }
    c.expect_eof(Duration::from_secs(5));
}

#[test]
fn idle_timeout_takes_a_bare_number_of_seconds() {
    let s = Server::serve("echo", &["tcp://127.0.0.1:0"], &["--idle-timeout", "0.3"]);
    let mut c = Conn::tcp(s.addr(0));
    let start = Instant::now();
    c.expect_eof(Duration::from_secs(5));
    assert!(start.elapsed() < Duration::from_secs(3));
}

#[test]
fn bad_limit_values_are_usage_errors() {
    for args in [
        ["--idle-timeout", "soon"],
        ["--shutdown-timeout=-1", ""],
        ["--max-line", "lots"],
        ["--max-connections=-3", ""],
    ] {
        let mut all = vec!["serve", "echo", "tcp://127.0.0.1:0"];
        all.extend(args.iter().filter(|a| !a.is_empty()));
        let out = run_duplex(&all, WAIT);
        assert_eq!(out.code(), Some(2), "{args:?}: {out:?}");
        let flag = args[0].split('=').next().unwrap_or_default();
        assert!(out.stderr.contains(flag), "{args:?}: {}", out.stderr);
        assert!(out.stdout.is_empty());
    }
    let out = run_duplex(
        &[
            "serve",
            "echo",
            "tcp://127.0.0.1:0",
            "--max-connections",
            "0",
        ],
        WAIT,
    );
    assert_ne!(out.code(), Some(0));
    assert!(out.stderr.contains("max-connections"), "{}", out.stderr);
}

/// Writes `chunk` again and again from a thread until a write stays blocked
/// for a second (the server stopped reading: backpressure) or `cap` bytes
/// went out. Returns the bytes written and whether writing blocked.
fn flood(conn: &Conn, chunk: Vec<u8>, cap: usize) -> (usize, bool) {
    let mut w = conn.s.try_clone_box().expect("clone");
    w.set_write_timeout(Some(Duration::from_secs(1)))
        .expect("write timeout");
    let (sent, blocked) = flood_writer(w.as_mut(), &chunk, cap as u64);
    (sent as usize, blocked)
}

const MB: usize = 1 << 20;

#[test]
fn echo_client_that_never_reads_cannot_grow_server_memory() {
    let s = Server::serve("echo", &["tcp://127.0.0.1:0"], &[]);
    let mut other = Conn::tcp(s.addr(0));
    assert_eq!(other.ask("warm up"), "warm up");
    let before = s.rss_kib();
    let hog = Conn::tcp(s.addr(0));
    let (sent, blocked) = flood(&hog, vec![b'x'; 64 * 1024], 512 * MB);
    assert!(
        blocked,
        "the server accepted {} MB from a client that reads nothing",
        sent / MB
    );
    let grown = s.rss_kib().saturating_sub(before);
    assert!(grown < 64 * 1024, "server RSS grew by {grown} KiB");
    // Meanwhile another client is served.
    assert_eq!(other.ask("still there?"), "still there?");
    assert_eq!(Conn::tcp(s.addr(0)).ask("new client"), "new client");
}

#[test]
fn line_client_that_never_reads_cannot_grow_server_memory() {
    let s = Server::serve("random", &["tcp://127.0.0.1:0"], &[]);
    let mut other = Conn::tcp(s.addr(0));
    assert_eq!(other.ask("1 1"), "1");
    let before = s.rss_kib();
    let hog = Conn::tcp(s.addr(0));
    // Each request asks for 100000 numbers (about 400 KB of replies).
    let (sent, blocked) = flood(&hog, b"100000\n".repeat(1000), 64 * MB);
    assert!(
        blocked,
        "the server read {sent} bytes of requests from a client that reads no replies"
    );
    let grown = s.rss_kib().saturating_sub(before);
    assert!(grown < 64 * 1024, "server RSS grew by {grown} KiB");
    assert_eq!(other.ask("2 2"), "2");
}

#[test]
fn a_stalled_client_does_not_delay_the_others() {
    let dir = tempdir();
    let unix = unix_url(dir.path(), "c.sock");
    let s = Server::serve("random", &["tcp://127.0.0.1:0", &unix], &[]);
    // One client is blocked on output it does not read, one sent half a line.
    let mut stuck = Conn::tcp(s.addr(0));
    stuck.send(&b"100000\n".repeat(50));
    let mut half = Conn::unix(&s.path(1));
    half.send(b"5 1 ");
    thread::sleep(Duration::from_millis(200));
    // Others are answered at once, on both transports.
    for url in [s.url(0), s.url(1)] {
        let mut c = Conn::to(url);
        let start = Instant::now();
        assert_eq!(c.ask("9 9"), "9");
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{url}: answered after {:?}",
            start.elapsed()
        );
    }
    // And the half line completes when the rest arrives.
    half.send(b"1\n");
    assert_eq!(half.read_line(), "1");
}

#[test]
fn many_clients_are_served_concurrently() {
    let s = Server::serve("daytime", &["tcp://127.0.0.1:0"], &["--format", "unix"]);
    let addr = s.addr(0);
    // 100 clients connect and hold their connections; each gets its greeting
    // without waiting for the others to leave.
    let conns: Vec<Conn> = (0..100).map(|_| Conn::tcp(addr)).collect();
    let ok = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicBool::new(false));
    let handles: Vec<_> = conns
        .into_iter()
        .map(|mut c| {
            let ok = ok.clone();
            let failed = failed.clone();
            thread::spawn(move || match c.try_read_line(WAIT) {
                Read1::Line(l) if l.parse::<i64>().is_ok() => {
                    ok.fetch_add(1, Ordering::SeqCst);
                    // Keep the connection open until every client has its line.
                    thread::sleep(Duration::from_millis(300));
                    drop(c);
                }
                _ => failed.store(true, Ordering::SeqCst),
            })
        })
        .collect();
    for h in handles {
        h.join().expect("client thread");
    }
    assert!(!failed.load(Ordering::SeqCst));
    assert_eq!(ok.load(Ordering::SeqCst), 100);
}
