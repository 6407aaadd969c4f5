//! Interoperability with OpenBSD `nc` and `socat`, both as clients of duplex
//! servers and as servers for `duplex connect`, over TCP, UDP and Unix
//! sockets. The tools are required: `scripts/test.sh` installs them, and a
//! missing tool fails the test (it is never skipped).

mod common;

use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::Duration;

use common::*;

const LONG: Duration = Duration::from_secs(30);

/// OpenBSD netcat (`nc.openbsd`, or an `nc` that is OpenBSD's).
fn nc() -> Command {
    for name in ["nc.openbsd", "nc"] {
        if let Ok(out) = Command::new(name).arg("-h").output() {
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            if text.contains("OpenBSD") {
                return Command::new(name);
            }
        }
    }
    panic!(
        "OpenBSD netcat is not installed: run scripts/test.sh (apt-get install -y netcat-openbsd)"
    );
}

fn socat() -> Command {
    let ok = Command::new("socat")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "socat is not installed: run scripts/test.sh (apt-get install -y socat)"
    );
    Command::new("socat")
}

fn with_args(mut cmd: Command, args: &[&str]) -> Command {
    cmd.args(args);
    cmd
}

fn host_port(s: &Server, i: usize) -> (String, String) {
    let a = s.addr(i);
    (a.ip().to_string(), a.port().to_string())
}

/// Binary data with every byte value.
fn binary(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 256) as u8).collect()
}

// ---------------------------------------------------------------------------
// nc and socat as clients of duplex servers

#[test]
fn nc_tcp_client_of_echo_random_and_daytime() {
    let s = Server::serve("echo", &["tcp://127.0.0.1:0"], &[]);
    let (h, p) = host_port(&s, 0);
    let data = binary(256 * 1024);
    let out = run_with_input(with_args(nc(), &["-N", &h, &p]), &data, LONG);
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert!(
        out.stdout == data,
        "nc got {} bytes back, differing",
        out.stdout.len()
    );

    let s = Server::serve("random", &["tcp://127.0.0.1:0"], &[]);
    let (h, p) = host_port(&s, 0);
    let out = run_with_input(with_args(nc(), &["-N", &h, &p]), b"3 5 5\n9 3\n", LONG);
    assert_eq!(out.stdout_str(), "5\n5\n5\nERR LO 9 is greater than HI 3\n");

    let s = Server::serve("daytime", &["tcp://127.0.0.1:0"], &["--format", "unix"]);
    let (h, p) = host_port(&s, 0);
    let out = run_with_input(with_args(nc(), &["-N", &h, &p]), b"again\nSTOP\n", LONG);
    let text = out.stdout_str();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "greeting and one reply: {text}");
    assert!(lines.iter().all(|l| l.parse::<i64>().is_ok()), "{text}");
}

#[test]
fn nc_unix_client_of_echo_and_counter() {
    let dir = tempdir();
    let s = Server::serve("echo", &[&unix_url(dir.path(), "e.sock")], &[]);
    let data = binary(100_000);
    let path = s.path(0);
    let out = run_with_input(
        with_args(nc(), &["-N", "-U", path.to_str().expect("utf-8")]),
        &data,
        LONG,
    );
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert!(out.stdout == data);

    let s = Server::serve("counter", &[&unix_url(dir.path(), "c.sock")], &[]);
    let path = s.path(0);
    for n in 1..=2 {
        let out = run_with_input(
            with_args(nc(), &["-N", "-U", path.to_str().expect("utf-8")]),
            b"\n",
            LONG,
        );
        assert_eq!(out.stdout_str(), format!("{n}\n"));
    }
}

#[test]
fn nc_udp_client_of_random_and_echo() {
    let s = Server::serve("random", &["udp://127.0.0.1:0"], &[]);
    let (h, p) = host_port(&s, 0);
    let out = run_with_input(
        with_args(nc(), &["-u", "-w", "1", &h, &p]),
        b"2 7 7\n",
        LONG,
    );
    assert_eq!(out.stdout_str(), "7\n7\n", "{}", out.stderr);

    let s = Server::serve("echo", &["udp://127.0.0.1:0"], &[]);
    let (h, p) = host_port(&s, 0);
    let out = run_with_input(
        with_args(nc(), &["-u", "-w", "1", &h, &p]),
        b"datagram\n",
        LONG,
    );
    assert_eq!(out.stdout_str(), "datagram\n");
}

#[test]
fn socat_tcp_client_of_echo_and_random() {
    let s = Server::serve("echo", &["tcp://127.0.0.1:0"], &[]);
    let data = binary(256 * 1024);
    let target = format!("TCP:{}", s.addr(0));
    let out = run_with_input(with_args(socat(), &["-t", "5", "-", &target]), &data, LONG);
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert!(
        out.stdout == data,
        "socat got {} bytes back, differing",
        out.stdout.len()
    );

    let s = Server::serve("random", &["tcp://127.0.0.1:0"], &["--seed", "1"]);
    let target = format!("TCP:{}", s.addr(0));
    let out = run_with_input(
        with_args(socat(), &["-t", "5", "-", &target]),
        b"4 1 1\nSTOP\n",
        LONG,
    );
    assert_eq!(out.stdout_str(), "1\n1\n1\n1\n");
}

#[test]
fn socat_udp_client_of_random_and_daytime() {
    let s = Server::serve("random", &["udp://127.0.0.1:0"], &[]);
    let target = format!("UDP:{}", s.addr(0));
    let out = run_with_input(
        with_args(socat(), &["-t", "1", "-", &target]),
        b"3 -1 -1\n",
        LONG,
    );
    assert_eq!(out.stdout_str(), "-1\n-1\n-1\n", "{}", out.stderr);

    let s = Server::serve("daytime", &["udp://127.0.0.1:0"], &["--format", "unix"]);
    let target = format!("UDP:{}", s.addr(0));
    let out = run_with_input(
        with_args(socat(), &["-t", "1", "-", &target]),
        b"time please\n",
        LONG,
    );
    let text = out.stdout_str();
    assert!(
        text.ends_with('\n') && text.trim().parse::<i64>().is_ok(),
        "{text:?}"
    );
}

#[test]
fn socat_unix_client_of_echo_and_random() {
    let dir = tempdir();
    let s = Server::serve("echo", &[&unix_url(dir.path(), "e.sock")], &[]);
    let target = format!("UNIX-CONNECT:{}", s.path(0).display());
    let data = binary(200_000);
    let out = run_with_input(with_args(socat(), &["-t", "5", "-", &target]), &data, LONG);
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert!(out.stdout == data);

    let s = Server::serve("random", &[&unix_url(dir.path(), "r.sock")], &[]);
    let target = format!("UNIX-CONNECT:{}", s.path(0).display());
    let out = run_with_input(
        with_args(socat(), &["-t", "5", "-", &target]),
        b"2 3 3\n",
        LONG,
    );
    assert_eq!(out.stdout_str(), "3\n3\n");
}

// ---------------------------------------------------------------------------
// nc and socat as servers for duplex connect

/// Starts `socat -d -d LISTEN-ADDRESS …` and returns it with the port it
/// reports (`listening on … 127.0.0.1:PORT`).
fn socat_listener(args: &[&str]) -> (Interactive, u16) {
    let mut cmd = socat();
    cmd.args(["-d", "-d"]).args(args);
    let srv = Interactive::spawn(cmd);
    let mut port = None;
    let found = eventually(WAIT, || {
        let err = srv.stderr();
        port = err
            .lines()
            .find(|l| l.contains("listening on"))
            .and_then(|l| l.rsplit(':').next())
            .and_then(|p| p.trim().parse::<u16>().ok());
        port.is_some()
    });
    assert!(found, "socat did not report its port: {}", srv.stderr());
    (srv, port.expect("port"))
}

/// Runs `duplex connect ARGS` with `input`, retrying while the server is not
/// listening yet (a refused connection is not accepted, so retrying is safe).
fn connect_when_ready(args: &[&str], input: &[u8]) -> Output {
    for _ in 0..200 {
        let out = run_with_input(
            with_args(duplex(), &[&["connect"], args].concat()),
            input,
            LONG,
        );
        let not_yet = out.code() != Some(0)
            && (out.stderr.contains("refused") || out.stderr.contains("no such socket"));
        if !not_yet {
            return out;
        }
        thread::sleep(Duration::from_millis(25));
    }
    panic!("the server never started listening");
}

#[test]
fn connect_tcp_to_socat_cat_server() {
    let (_srv, port) = socat_listener(&["TCP-LISTEN:0,bind=127.0.0.1,reuseaddr", "EXEC:cat"]);
    let data = binary(300_000);
    let out = connect_when_ready(&[&format!("tcp://127.0.0.1:{port}")], &data);
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert!(
        out.stdout == data,
        "{} bytes back, differing",
        out.stdout.len()
    );
}

/// Waits until something listens on TCP 127.0.0.1:`port`, without
/// connecting (a one-shot server like `nc -l` must keep its only accept).
fn wait_tcp_listening(port: u16) {
    let local = format!("0100007F:{port:04X}");
    let listening = eventually(WAIT, || {
        std::fs::read_to_string("/proc/net/tcp").is_ok_and(|t| {
            t.lines().any(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                f.len() > 3 && f[1] == local && f[3] == "0A"
            })
        })
    });
    assert!(listening, "nothing listens on 127.0.0.1:{port}");
}

/// Waits until a Unix stream socket at `path` is listening.
fn wait_unix_listening(path: &Path) {
    let name = path.to_str().expect("utf-8 path");
    let listening = eventually(WAIT, || {
        std::fs::read_to_string("/proc/net/unix").is_ok_and(|t| {
            t.lines().any(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                // Flags 00010000: accepting connections.
                f.len() > 7 && f[7] == name && f[3] == "00010000"
            })
        })
    });
    assert!(listening, "nothing listens on {name}");
}

/// An interactive session between `duplex connect URL` and a one-shot
/// server `srv` (nc -N -l): both directions, then both sides end cleanly.
fn converse_with(mut srv: Interactive, url: &str) {
    let mut c = Interactive::spawn(with_args(duplex(), &["connect", url]));
    c.write(b"hello from duplex\n");
    assert_eq!(srv.read_line(WAIT), "hello from duplex");
    srv.write(b"hello from nc\n");
    assert_eq!(c.read_line(WAIT), "hello from nc");
    // duplex half-closes at its stdin EOF; nc (-N) then at its own.
    c.close_stdin();
    srv.close_stdin();
    assert_eq!(c.read_to_end(WAIT), b"");
    assert_eq!(
        c.wait(WAIT).and_then(|s| s.code()),
        Some(0),
        "{}",
        c.stderr()
    );
    assert_eq!(srv.read_to_end(WAIT), b"");
    assert!(srv.wait(WAIT).is_some(), "nc did not finish");
}

#[test]
fn connect_tcp_to_nc_server_both_ways() {
    let port = closed_port();
    let srv = Interactive::spawn(with_args(
        nc(),
        &["-N", "-l", "127.0.0.1", &port.to_string()],
    ));
    wait_tcp_listening(port);
    converse_with(srv, &format!("tcp://127.0.0.1:{port}"));
}

#[test]
fn connect_udp_to_socat_and_nc_servers() {
    // socat reflecting every datagram.
    let (_srv, port) = socat_listener(&["UDP-LISTEN:0,bind=127.0.0.1", "PIPE"]);
    let mut c = Interactive::spawn(with_args(
        duplex(),
        &[
            "connect",
            &format!("udp://127.0.0.1:{port}"),
            "--wait",
            "300ms",
        ],
    ));
    for line in ["first", "second datagram"] {
        c.write(format!("{line}\n").as_bytes());
        assert_eq!(c.read_line(WAIT), line);
    }
    c.close_stdin();
    assert_eq!(
        c.wait(WAIT).and_then(|s| s.code()),
        Some(0),
        "{}",
        c.stderr()
    );

    // nc printing what it receives and answering with its stdin.
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let mut srv = Interactive::spawn(with_args(
        nc(),
        &["-u", "-l", "127.0.0.1", &port.to_string()],
    ));
    thread::sleep(Duration::from_millis(300));
    let mut c = Interactive::spawn(with_args(
        duplex(),
        &[
            "connect",
            &format!("udp://127.0.0.1:{port}"),
            "--wait",
            "1s",
        ],
    ));
    c.write(b"ping\n");
    // nc prints the datagram as it came: without a line break.
    assert_eq!(srv.read_bytes(4, WAIT), b"ping");
    srv.write(b"pong\n");
    assert_eq!(c.read_line(WAIT), "pong");
    c.close_stdin();
    assert_eq!(
        c.wait(WAIT).and_then(|s| s.code()),
        Some(0),
        "{}",
        c.stderr()
    );
}

fn wait_for_path(p: &Path) {
    assert!(
        eventually(WAIT, || p.exists()),
        "{} never appeared",
        p.display()
    );
}

#[test]
fn connect_unix_to_socat_and_nc_servers() {
    let dir = tempdir();
    let path = dir.path().join("socat.sock");
    let _srv = Interactive::spawn(with_args(
        socat(),
        &[&format!("UNIX-LISTEN:{}", path.display()), "EXEC:cat"],
    ));
    wait_for_path(&path);
    let data = binary(100_000);
    let out = connect_when_ready(&[&format!("unix://{}", path.display())], &data);
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert!(out.stdout == data);

    let path = dir.path().join("nc.sock");
    let srv = Interactive::spawn(with_args(
        nc(),
        &["-N", "-l", "-U", path.to_str().expect("utf-8")],
    ));
    wait_unix_listening(&path);
    converse_with(srv, &format!("unix://{}", path.display()));
}
