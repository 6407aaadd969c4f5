//! Graceful shutdown on real SIGTERM and SIGINT (docs/behaviour.md,
//! "Shutdown"): stop accepting, let in-flight replies finish, remove Unix
//! socket files, exit 0 within --shutdown-timeout; a second signal exits at
//! once with status 130.

mod common;

use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;

/// A random server on tcp, unix and udp, with `extra` options.
fn server(dir: &std::path::Path, extra: &[&str]) -> Server {
    let unix = unix_url(dir, "r.sock");
    Server::serve(
        "random",
        &["tcp://127.0.0.1:0", &unix, "udp://127.0.0.1:0"],
        extra,
    )
}

fn graceful_exit(sig: i32) {
    let dir = tempdir();
    let mut s = server(dir.path(), &[]);
    let sock = s.path(1);
    assert!(sock.exists());
    // An idle client does not hold the shutdown up.
    let mut idle = Conn::tcp(s.addr(0));
    assert_eq!(idle.ask("1 1"), "1");
    let start = Instant::now();
    s.signal(sig);
    let status = s.wait_exit(WAIT).expect("the server exits");
    assert_eq!(
        status.code(),
        Some(0),
        "exit status; stderr: {}",
        s.stderr()
    );
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "took {:?}",
        start.elapsed()
    );
    assert!(!sock.exists(), "the Unix socket file was not removed");
    idle.expect_eof(WAIT);
}

#[test]
fn sigterm_exits_0_and_removes_the_unix_socket_file() {
    graceful_exit(libc::SIGTERM);
}

#[test]
fn sigint_exits_0_and_removes_the_unix_socket_file() {
    graceful_exit(libc::SIGINT);
}

#[test]
fn in_flight_reply_completes_during_shutdown() {
    for (sig, url) in [(libc::SIGTERM, 0), (libc::SIGINT, 1)] {
        let dir = tempdir();
        let mut s = server(dir.path(), &[]);
        let mut c = Conn::to(s.url(url));
        c.send_line("100000");
        let first = c.read_line();
        assert!(first.parse::<i64>().is_ok(), "{first}");
        s.signal(sig);
        let mut got = 1;
        loop {
            match c.try_read_line(WAIT) {
                Read1::Line(l) => {
                    assert!(l.parse::<i64>().is_ok(), "line {got}: {l:?}");
                    got += 1;
                }
                Read1::Eof(rest) => {
                    assert!(rest.is_empty(), "a reply was cut in the middle: {rest:?}");
                    break;
                }
                Read1::Timeout => panic!("stalled after {got} lines"),
            }
        }
        assert_eq!(got, 100_000, "the in-flight reply was not finished");
        let status = s.wait_exit(WAIT).expect("the server exits");
        assert_eq!(status.code(), Some(0), "stderr: {}", s.stderr());
    }
}

/// A client that asked for far more than the socket buffers hold and reads
/// nothing: its reply stays in flight until the server gives up. Returned
/// once the server has filled the buffers and waits, idle: that takes
/// CPU time (megabytes of lines), which a busy machine stretches, and
/// the shutdown must be timed from then on, not from while it works.
fn stuck_client(s: &Server) -> Conn {
    let mut c = Conn::tcp(s.addr(0));
    c.send(&b"100000\n".repeat(50));
    wait_until_idle(s.pid());
    c
}

/// The CPU time of process `pid` in clock ticks, and whether any of its
/// threads is running or runnable.
fn cpu_ticks_and_running(pid: i32) -> (u64, bool) {
    let mut ticks = 0;
    let mut running = false;
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("read /proc/PID/task");
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue; // a thread that just ended
        };
        // After "PID (comm) ": state, then utime and stime at 12 and 13.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        running |= fields.first() == Some(&"R");
        ticks += fields
            .get(11)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0);
        ticks += fields
            .get(12)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0);
    }
    (ticks, running)
}

/// Waits until no thread of `pid` has run for 300 ms. Filling the
/// buffers of a stuck client (its own and the server's send buffer, which
/// grows to megabytes) takes the server about half a second of CPU time
/// here; on a machine with ten times more to run than it has cores, ten
/// times that: hence a bound of a minute.
fn wait_until_idle(pid: i32) {
    const FILL: Duration = Duration::from_secs(60);
    let mut last = (u64::MAX, Instant::now());
    let idle = eventually(FILL, || {
        let (ticks, running) = cpu_ticks_and_running(pid);
        if running || ticks != last.0 {
            last = (ticks, Instant::now());
            return false;
        }
        last.1.elapsed() >= Duration::from_millis(300)
    });
    assert!(idle, "the server was still busy after {FILL:?}");
}

#[test]
fn exits_within_the_shutdown_timeout_when_a_client_keeps_its_connection() {
    let dir = tempdir();
    let mut s = server(dir.path(), &["--shutdown-timeout", "1s"]);
    let _stuck = stuck_client(&s);
    let start = Instant::now();
    s.signal(libc::SIGTERM);
    let status = s.wait_exit(WAIT).expect("the server exits");
    let took = start.elapsed();
    assert_eq!(status.code(), Some(0), "stderr: {}", s.stderr());
    assert!(
        took >= Duration::from_millis(800),
        "did not wait for the in-flight reply: {took:?}"
    );
    assert!(
        took < Duration::from_secs(4),
        "took {took:?} with --shutdown-timeout 1s"
    );
    let stderr = s.stderr();
    assert!(
        stderr.contains("shutdown timeout: dropping the remaining connections"),
        "{stderr}"
    );
    assert!(!s.path(1).exists(), "the Unix socket file was not removed");
}

#[test]
fn shutdown_stops_accepting_at_once() {
    let dir = tempdir();
    let mut s = server(dir.path(), &["--shutdown-timeout", "30s"]);
    let _stuck = stuck_client(&s);
    let addr = s.addr(0);
    let sock = s.path(1);
    s.signal(libc::SIGTERM);
    // Still running (waiting for the stuck reply), but no longer accepting.
    let refused = eventually(WAIT, || {
        TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err()
    });
    assert!(refused, "new connections still accepted during shutdown");
    assert!(
        eventually(WAIT, || !sock.exists()),
        "the Unix socket file stayed during shutdown"
    );
    assert!(
        s.running(),
        "exited although a reply was in flight: stderr {}",
        s.stderr()
    );
}

#[test]
fn second_signal_exits_at_once_with_status_130() {
    for (first, second) in [
        (libc::SIGTERM, libc::SIGTERM),
        (libc::SIGINT, libc::SIGINT),
        (libc::SIGTERM, libc::SIGINT),
    ] {
        let dir = tempdir();
        let mut s = server(dir.path(), &["--shutdown-timeout", "60s"]);
        let _stuck = stuck_client(&s);
        s.signal(first);
        // Shutdown has begun once the listeners are gone (signals that
        // arrive before the first is handled may be merged into one).
        let sock = s.path(1);
        assert!(
            eventually(WAIT, || !sock.exists()),
            "shutdown did not begin"
        );
        assert!(
            s.wait_exit(Duration::from_millis(300)).is_none(),
            "exited before the shutdown timeout"
        );
        let start = Instant::now();
        s.signal(second);
        let status = s
            .wait_exit(WAIT)
            .expect("the server exits on the second signal");
        assert_eq!(status.code(), Some(130), "stderr: {}", s.stderr());
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "took {:?}",
            start.elapsed()
        );
    }
}

#[test]
fn sigterm_right_after_start_is_graceful() {
    let dir = tempdir();
    let mut s = server(dir.path(), &[]);
    s.signal(libc::SIGTERM);
    let status = s.wait_exit(WAIT).expect("the server exits");
    assert_eq!(status.code(), Some(0), "stderr: {}", s.stderr());
    assert!(!s.path(1).exists());
}

#[test]
fn no_request_can_stop_the_server() {
    let dir = tempdir();
    let mut s = server(dir.path(), &[]);
    for word in ["STOP", "QUIT", "SHUTDOWN", "EXIT"] {
        let mut c = Conn::tcp(s.addr(0));
        c.send_line(word);
        let _ = c.try_read_line(Duration::from_millis(500));
        assert!(Udp::to(s.addr(2)).ask(word).starts_with("ERR "));
    }
    assert!(s.running());
    assert_eq!(Conn::unix(&s.path(1)).ask("8 8"), "8");
}
