//! Socket activation and readiness (docs/behaviour.md, "Many instances"):
//! `duplex serve` takes the listening sockets systemd passes (`fd:N` and
//! `fd:NAME` URLs, through the real `systemd-socket-activate`), and tells
//! `NOTIFY_SOCKET` `READY=1` once every listener is bound and `STOPPING=1`
//! when shutdown begins.

mod common;
mod fleet;

use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use fleet::*;

/// A notification socket, as systemd's: the datagrams a service sends.
struct Notifications(UnixDatagram);

impl Notifications {
    fn bind(dir: &Path) -> (Notifications, String) {
        let path = dir.join("notify");
        let s = UnixDatagram::bind(&path).expect("bind the notification socket");
        s.set_read_timeout(Some(WAIT)).expect("timeout");
        (Notifications(s), path.display().to_string())
    }

    fn next(&self) -> String {
        let mut buf = [0u8; 4096];
        let n = self.0.recv(&mut buf).expect("a notification");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    fn nothing_within(&self, d: Duration) -> bool {
        self.0.set_read_timeout(Some(d)).expect("timeout");
        let mut buf = [0u8; 64];
        let quiet = self.0.recv(&mut buf).is_err();
        self.0.set_read_timeout(Some(WAIT)).expect("timeout");
        quiet
    }
}

/// `systemd-socket-activate LISTEN… -E NOTIFY_SOCKET=… duplex ARGS…`: the
/// sockets are bound at once; duplex is started by the first client.
fn activate(listen: &[&str], extra: &[&str], notify: &str, args: &[&str]) -> Command {
    let mut c = Command::new("systemd-socket-activate");
    for l in listen {
        c.args(["-l", l]);
    }
    c.args(extra)
        .arg(format!("--setenv=NOTIFY_SOCKET={notify}"))
        .arg(BIN)
        .args(args);
    c
}

/// Starts `cmd` and waits until `addr` is bound (duplex itself starts at
/// the first connection).
fn spawn_activator(mut cmd: Command) -> std::process::Child {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.spawn()
        .expect("spawn systemd-socket-activate (Debian package systemd)")
}

/// The first client, once systemd-socket-activate has bound `addr`.
fn first_client(addr: SocketAddr) -> TcpStream {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        match connect_from([127, 0, 0, 1], addr) {
            Ok(c) => return c,
            Err(e) if std::time::Instant::now() < deadline => {
                assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused, "{e}");
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("{addr} is not bound: {e}"),
        }
    }
}

#[test]
fn tcp_unix_and_ws_sockets_are_taken_by_name_and_readiness_is_notified() {
    let dir = tempdir();
    let (notes, notify) = Notifications::bind(dir.path());
    let (tcp, ws) = (free_port(), free_port());
    let unix = dir.path().join("c.sock");
    let tcp_l = format!("127.0.0.1:{tcp}");
    let ws_l = format!("127.0.0.1:{ws}");
    let unix_l = unix.display().to_string();
    let cmd = activate(
        &[&tcp_l, &unix_l, &ws_l],
        &["--fdname=count:ctl:web"],
        &notify,
        &[
            "serve",
            "counter",
            "tcp://fd:count",
            "unix://fd:ctl",
            "ws://fd:web/a",
            "ws://fd:web/b",
        ],
    );
    let child = spawn_activator(cmd);
    let tcp_addr: SocketAddr = tcp_l.parse().expect("addr");
    // The first client starts duplex; its connection waits in the queue.
    let mut first = first_client(tcp_addr);
    let mut s = Server::adopt(child, 4);
    assert_eq!(
        s.listening,
        vec![
            ("counter".to_string(), format!("tcp://{tcp_l}")),
            ("counter".to_string(), format!("unix://{unix_l}")),
            ("counter".to_string(), format!("ws://{ws_l}/a")),
            ("counter".to_string(), format!("ws://{ws_l}/b")),
        ]
    );
    assert_eq!(notes.next(), "READY=1\n");
    assert_eq!(ask_line(&mut first, "").expect("reply"), "1");
    let mut u = UnixStream::connect(&unix).expect("connect unix");
    u.set_read_timeout(Some(WAIT)).expect("timeout");
    assert_eq!(ask_line(&mut u, "").expect("reply"), "2");
    // Two WebSocket paths on one inherited socket.
    let ws_addr: SocketAddr = ws_l.parse().expect("addr");
    for (path, n) in [("/a", "3"), ("/b", "4")] {
        let mut c = connect_from([127, 0, 0, 1], ws_addr).expect("connect ws");
        ws_handshake(&mut c, path).expect("handshake");
        assert_eq!(ws_ask(&mut c, "").expect("reply"), n);
    }
    assert!(notes.nothing_within(Duration::from_millis(200)));
    s.signal(libc::SIGTERM);
    assert_eq!(notes.next(), "STOPPING=1\n");
    let status = s.wait_exit(WAIT).expect("exits");
    assert_eq!(status.code(), Some(0), "{}", s.stderr());
    // The socket file belongs to whoever bound it.
    assert!(unix.exists(), "the inherited socket's file was removed");
}

#[test]
fn a_udp_socket_is_taken_by_number() {
    let dir = tempdir();
    let (notes, notify) = Notifications::bind(dir.path());
    let port = free_port();
    let l = format!("127.0.0.1:{port}");
    let cmd = activate(
        &[&l],
        &["--datagram"],
        &notify,
        &["serve", "counter", "udp://fd:3"],
    );
    let child = spawn_activator(cmd);
    let client = UdpSocket::bind("127.0.0.1:0").expect("bind");
    client.set_read_timeout(Some(WAIT)).expect("timeout");
    let addr: SocketAddr = l.parse().expect("addr");
    // Until systemd-socket-activate has bound the port, datagrams are
    // refused; the first one it receives starts duplex, which answers it.
    let mut reply = None;
    for _ in 0..50 {
        let _ = client.send_to(b"\n", addr);
        let mut buf = [0u8; 64];
        client
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        if let Ok(n) = client.recv(&mut buf) {
            reply = Some(String::from_utf8_lossy(&buf[..n]).into_owned());
            break;
        }
    }
    let mut s = Server::adopt(child, 1);
    assert_eq!(s.url(0), format!("udp://{l}"));
    assert_eq!(reply.as_deref(), Some("1\n"));
    assert_eq!(notes.next(), "READY=1\n");
    s.signal(libc::SIGTERM);
    assert_eq!(notes.next(), "STOPPING=1\n");
    assert_eq!(s.wait_exit(WAIT).and_then(|s| s.code()), Some(0));
}

#[test]
fn readiness_is_notified_without_socket_activation_too() {
    let dir = tempdir();
    let (notes, notify) = Notifications::bind(dir.path());
    let mut cmd = duplex();
    cmd.args(["serve", "echo", "tcp://127.0.0.1:0", "udp://127.0.0.1:0"])
        .env("NOTIFY_SOCKET", &notify);
    let mut s = Server::try_start_cmd(cmd, 2).expect("starts");
    assert_eq!(notes.next(), "READY=1\n");
    TcpStream::connect(s.addr(0)).expect("bound before READY=1");
    s.signal(libc::SIGTERM);
    assert_eq!(notes.next(), "STOPPING=1\n");
    assert_eq!(s.wait_exit(WAIT).and_then(|s| s.code()), Some(0));
}

/// Runs duplex under systemd-socket-activate with one TCP socket named
/// `web`, starts it with a connection, and returns its exit status and
/// stderr.
///
/// Should systemd-socket-activate itself still be waiting after
/// [`EXIT_WAIT`], duplex never ran, and there is nothing of duplex's to
/// judge: that is said on stderr and the start is tried once more, with a
/// new port. duplex still running fails the test at once.
fn activated_failure(args: &[&str]) -> (Option<i32>, String) {
    activated_attempt(args)
        .or_else(|err| {
            eprintln!(
                "systemd-socket-activate did not start duplex within {EXIT_WAIT:?}; \
                 trying once more. Its stderr:\n{err}"
            );
            activated_attempt(args)
        })
        .unwrap_or_else(|err| {
            panic!("systemd-socket-activate did not start duplex twice in a row; stderr:\n{err}")
        })
}

/// One start under systemd-socket-activate: duplex's exit status and what
/// both programs wrote on stderr, or, when systemd-socket-activate was
/// still waiting, what it wrote.
fn activated_attempt(args: &[&str]) -> Result<(Option<i32>, String), String> {
    let dir = tempdir();
    let (_notes, notify) = Notifications::bind(dir.path());
    let l = format!("127.0.0.1:{}", free_port());
    let mut child = spawn_activator(activate(&[&l], &["--fdname=web"], &notify, args));
    let addr: SocketAddr = l.parse().expect("addr");
    wait_listening(addr, "systemd-socket-activate");
    // duplex exits at once; the generous bound only keeps a loaded machine
    // from failing the test. Should it not exit, the panic says which
    // program was still running and what both wrote.
    let status = wait_child(&mut child, EXIT_WAIT);
    let running = std::fs::read_to_string(format!("/proc/{}/comm", child.id()));
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut err);
    }
    let Some(status) = status else {
        // The kernel keeps the first 15 bytes of a program's name.
        let running = running.map(|c| c.trim().to_string());
        let activator = running
            .as_deref()
            .is_ok_and(|c| !c.is_empty() && "systemd-socket-activate".starts_with(c));
        if activator {
            return Err(err);
        }
        panic!(
            "{args:?} did not exit within {EXIT_WAIT:?} of the first connection; \
             still running: {running:?}; stderr of systemd-socket-activate and duplex:\n{err}"
        );
    };
    Ok((status.code(), err))
}

/// How long duplex may take to exit after a start that must fail.
const EXIT_WAIT: Duration = Duration::from_secs(30);

#[test]
fn an_fd_url_that_names_no_passed_socket_is_a_clear_error() {
    let (code, err) = activated_failure(&["serve", "echo", "tcp://fd:api"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(
            "cannot listen on tcp://fd:api: no such socket was passed; passed: fd 3 (web)"
        ),
        "{err}"
    );
    let (code, err) = activated_failure(&["serve", "echo", "udp://fd:web"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("fd 3 is not a valid udp socket"), "{err}");
    let (code, err) = activated_failure(&["serve", "echo", "tcp://fd:web", "tls://fd:3"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("fd 3 is already in use"), "{err}");
}

#[test]
fn an_inherited_socket_no_url_names_is_closed_with_a_warning() {
    let dir = tempdir();
    let (notes, notify) = Notifications::bind(dir.path());
    let (a, b) = (free_port(), free_port());
    let (la, lb) = (format!("127.0.0.1:{a}"), format!("127.0.0.1:{b}"));
    let child = spawn_activator(activate(
        &[&la, &lb],
        &["--fdname=used:spare"],
        &notify,
        &["serve", "echo", "tcp://fd:used"],
    ));
    let mut c = first_client(la.parse().expect("addr"));
    let s = Server::adopt(child, 1);
    assert_eq!(notes.next(), "READY=1\n");
    assert_eq!(ask_line(&mut c, "hi").expect("echo"), "hi");
    let warned = eventually(WAIT, || {
        s.stderr()
            .contains("fd 4 (spare) was passed to duplex but no URL names it")
    });
    assert!(warned, "{}", s.stderr());
    let refused = TcpStream::connect(lb.as_str()).is_err();
    assert!(refused, "the unused socket still accepts connections");
}

#[test]
fn without_sockets_an_fd_url_says_how_to_pass_them() {
    let out = run_duplex(&["serve", "echo", "tcp://fd:3"], WAIT);
    assert_eq!(out.code(), Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains("LISTEN_FDS is not set"),
        "{}",
        out.stderr
    );
    let help = run_duplex(&["serve", "--help"], WAIT);
    assert!(
        help.stdout_str().contains("tcp://fd:3"),
        "{}",
        help.stdout_str()
    );
}

// ---------------------------------------------------------------------------
// deploy/duplex.socket and deploy/duplex.service

/// The text of `deploy/NAME`.
fn unit(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Every value of `key` in a unit file, in order.
fn values(unit: &str, key: &str) -> Vec<String> {
    unit.lines()
        .filter_map(|l| l.trim().strip_prefix(key)?.strip_prefix('='))
        .map(|v| v.trim().to_string())
        .collect()
}

/// The service with its ExecStart's program made this build's duplex.
fn service_with_this_duplex() -> String {
    let service = unit("duplex.service");
    let exec = values(&service, "ExecStart");
    assert_eq!(exec.len(), 1, "one ExecStart: {exec:?}");
    let program = exec[0].split_whitespace().next().expect("a program");
    service.replace(&format!("ExecStart={program}"), &format!("ExecStart={BIN}"))
}

/// systemd's own parser finds nothing to say about the two units (it runs
/// without a running systemd: it loads the files, checks every directive,
/// that the program is executable and that the socket unit has its
/// service). Only the program's path is changed, to this build's.
#[test]
fn the_deploy_units_pass_systemd_analyze_verify() {
    let dir = tempdir();
    std::fs::write(dir.path().join("duplex.socket"), unit("duplex.socket")).expect("write");
    std::fs::write(
        dir.path().join("duplex.service"),
        service_with_this_duplex(),
    )
    .expect("write");
    let out = Command::new("systemd-analyze")
        .args(["verify", "duplex.socket", "duplex.service"])
        .current_dir(dir.path())
        .output()
        .expect("run systemd-analyze (Debian package systemd)");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    // Unknown or bad values are warnings, not failures: none is allowed.
    assert!(err.trim().is_empty(), "systemd-analyze verify warns: {err}");
}

/// The service's ExecStart, run as systemd would run it for the socket
/// unit: its ListenStream sockets (on free ports) passed in order with the
/// unit's FileDescriptorName, NOTIFY_SOCKET set. It takes fd 3 as TCP and
/// fd 4 as WebSocket, says READY=1 (Type=notify), counts over both, and
/// stops with STOPPING=1 and status 0 within TimeoutStopSec. The
/// sandboxing directives are systemd's to apply and are not exercised here.
#[test]
fn the_deploy_service_serves_the_sockets_of_the_socket_unit() {
    let socket = unit("duplex.socket");
    let service = unit("duplex.service");
    assert_eq!(values(&service, "Type"), ["notify"]);
    let streams = values(&socket, "ListenStream");
    assert_eq!(
        streams.len(),
        2,
        "a TCP and a WebSocket socket: {streams:?}"
    );
    let listen: Vec<String> = streams
        .iter()
        .map(|s| {
            let (host, _) = s.rsplit_once(':').expect("HOST:PORT");
            format!("{host}:{}", free_port())
        })
        .collect();
    let name = values(&socket, "FileDescriptorName");
    let names = vec![name[0].as_str(); listen.len()].join(":");
    let exec = values(&service, "ExecStart");
    let args: Vec<&str> = exec[0].split_whitespace().skip(1).collect();
    let dir = tempdir();
    let (notes, notify) = Notifications::bind(dir.path());
    let listen_refs: Vec<&str> = listen.iter().map(String::as_str).collect();
    let fdname = format!("--fdname={names}");
    let child = spawn_activator(activate(&listen_refs, &[&fdname], &notify, &args));
    let mut first = first_client(listen[0].parse().expect("addr"));
    let mut s = Server::adopt(child, 2);
    assert_eq!(
        s.listening,
        vec![
            ("counter".to_string(), format!("tcp://{}", listen[0])),
            ("counter".to_string(), format!("ws://{}/counter", listen[1])),
        ]
    );
    assert_eq!(notes.next(), "READY=1\n");
    assert_eq!(ask_line(&mut first, "").expect("reply"), "1");
    let mut c = connect_from([127, 0, 0, 1], listen[1].parse().expect("addr")).expect("ws");
    ws_handshake(&mut c, "/counter").expect("handshake");
    assert_eq!(ws_ask(&mut c, "").expect("reply"), "2");
    drop((first, c));
    let stop = values(&service, "TimeoutStopSec");
    let stop: u64 = stop[0]
        .trim_end_matches('s')
        .parse()
        .expect("TimeoutStopSec=Ns");
    s.signal(libc::SIGTERM);
    assert_eq!(notes.next(), "STOPPING=1\n");
    let status = s
        .wait_exit(Duration::from_secs(stop))
        .expect("stops in time");
    assert_eq!(status.code(), Some(0), "{}", s.stderr());
}
