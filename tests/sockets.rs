//! Binding (docs/behaviour.md, "Endpoints", "Unix socket files"): IPv6, the
//! empty host, Unix socket paths (stale, live, not a socket, relative), and
//! clear one-line errors at start.

mod common;

use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::unix::net::UnixListener;
use std::process::Command;
use std::time::Duration;

use common::*;

/// Asserts that `duplex serve ARGS` fails at start with one line on stderr
/// containing every word of `want`, binding nothing; returns the line.
fn fails_to_start(args: &[&str], want: &[&str]) -> String {
    let out = run_duplex(args, WAIT);
    assert_ne!(out.code(), Some(0), "{args:?} started: {out:?}");
    assert!(
        out.stdout.is_empty(),
        "{args:?}: nothing may be announced: {}",
        out.stdout_str()
    );
    let lines = nonempty_lines(&out.stderr);
    assert_eq!(
        lines.len(),
        1,
        "{args:?}: one line expected on stderr: {}",
        out.stderr
    );
    for w in want {
        assert!(
            lines[0].contains(w),
            "{args:?}: '{w}' missing from: {}",
            lines[0]
        );
    }
    lines[0].to_string()
}

#[test]
fn listening_line_shows_the_real_port() {
    let s = Server::serve("echo", &["tcp://127.0.0.1:0", "udp://127.0.0.1:0"], &[]);
    for i in 0..2 {
        let port = s.addr(i).port();
        assert_ne!(port, 0, "{}", s.url(i));
        assert_eq!(
            s.url(i),
            format!("{}://127.0.0.1:{port}", ["tcp", "udp"][i])
        );
    }
    // The reported ports are the ones in use.
    assert_eq!(Conn::tcp(s.addr(0)).ask("a"), "a");
    assert_eq!(Udp::to(s.addr(1)).ask("b"), "b");
}

#[test]
fn ipv6_loopback_works() {
    let s = Server::serve("echo", &["tcp://[::1]:0", "udp://[::1]:0"], &[]);
    assert!(s.url(0).starts_with("tcp://[::1]:"), "{}", s.url(0));
    assert!(s.url(1).starts_with("udp://[::1]:"), "{}", s.url(1));
    assert_eq!(Conn::tcp(s.addr(0)).ask("over v6"), "over v6");
    assert_eq!(Udp::to(s.addr(1)).ask("v6 datagram"), "v6 datagram");
}

#[test]
fn empty_host_accepts_on_ipv4_and_ipv6_loopback() {
    let s = Server::serve("echo", &["tcp://:0", "udp://:0"], &[]);
    assert!(s.url(0).starts_with("tcp://:"), "{}", s.url(0));
    let port = |i: usize| {
        s.url(i)
            .rsplit(':')
            .next()
            .and_then(|p| p.parse::<u16>().ok())
            .expect("port")
    };
    let (tcp, udp) = (port(0), port(1));
    for ip in ["127.0.0.1", "::1"] {
        let ip: std::net::IpAddr = ip.parse().expect("ip");
        assert_eq!(
            Conn::tcp(SocketAddr::new(ip, tcp)).ask("hi"),
            "hi",
            "tcp {ip}"
        );
        assert_eq!(
            Udp::to(SocketAddr::new(ip, udp)).ask("hi"),
            "hi",
            "udp {ip}"
        );
    }
}

#[test]
fn tcp_address_in_use_is_one_clear_line() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("tcp://{}", taken.local_addr().expect("addr"));
    fails_to_start(&["serve", "echo", &url], &["address already in use", &url]);
    // Nothing is announced when a later listener fails either.
    fails_to_start(
        &["serve", "echo", "tcp://127.0.0.1:0", &url],
        &["address already in use"],
    );
}

#[test]
fn udp_address_in_use_is_one_clear_line() {
    let taken = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let url = format!("udp://{}", taken.local_addr().expect("addr"));
    fails_to_start(
        &["serve", "random", &url],
        &["address already in use", &url],
    );
}

#[test]
fn address_of_another_machine_is_one_clear_line() {
    // 192.0.2.1 (TEST-NET-1) is not an address of this machine; binding it
    // fails locally without sending anything.
    fails_to_start(&["serve", "echo", "tcp://192.0.2.1:0"], &["192.0.2.1"]);
}

#[test]
fn privileged_port_without_privilege_says_what_is_needed() {
    let setpriv = Command::new("setpriv").arg("--version").output();
    assert!(
        setpriv.is_ok_and(|o| o.status.success()),
        "setpriv (util-linux) is needed to run this test as an unprivileged user; scripts/test.sh installs it"
    );
    // Ports below net.ipv4.ip_unprivileged_port_start need privilege.
    let start: u16 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(1024);
    assert!(
        start > 1,
        "this machine lets everyone bind every port (ip_unprivileged_port_start = {start})"
    );
    let port = (start - 1).min(80);
    let url = format!("tcp://127.0.0.1:{port}");
    let mut cmd = Command::new("setpriv");
    cmd.args([
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        BIN,
        "serve",
        "echo",
        &url,
    ]);
    let out = run(cmd, WAIT);
    assert_ne!(out.code(), Some(0), "{out:?}");
    assert!(out.stdout.is_empty());
    let lines = nonempty_lines(&out.stderr);
    assert_eq!(lines.len(), 1, "one line: {}", out.stderr);
    assert!(
        lines[0].contains("CAP_NET_BIND_SERVICE") && lines[0].contains("root"),
        "{}",
        lines[0]
    );
    assert!(lines[0].contains(&url), "{}", lines[0]);
}

#[test]
fn stale_unix_socket_is_replaced() {
    let dir = tempdir();
    let path = dir.path().join("stale.sock");
    // A socket file whose listener is gone, as a crashed server leaves it.
    drop(UnixListener::bind(&path).expect("bind"));
    assert!(path.exists());
    let url = format!("unix://{}", path.display());
    let mut s = Server::serve("echo", &[&url], &[]);
    assert_eq!(Conn::unix(&path).ask("fresh"), "fresh");
    s.signal(libc::SIGTERM);
    assert_eq!(s.wait_exit(WAIT).and_then(|st| st.code()), Some(0));
    assert!(!path.exists(), "removed at exit");
}

#[test]
fn live_unix_socket_is_an_error_and_is_not_deleted() {
    let dir = tempdir();
    let path = dir.path().join("live.sock");
    let url = format!("unix://{}", path.display());
    // Another duplex listens there.
    let other = Server::serve("random", &[&url], &[]);
    fails_to_start(&["serve", "echo", &url], &["listening", &url]);
    assert!(path.exists(), "the live socket was deleted");
    assert_eq!(
        Conn::unix(&path).ask("3 3"),
        "3",
        "the other server still answers"
    );
    drop(other);
    // And a socket some other program listens on.
    let path = dir.path().join("foreign.sock");
    let foreign = UnixListener::bind(&path).expect("bind");
    let url = format!("unix://{}", path.display());
    fails_to_start(&["serve", "echo", &url], &[&url]);
    assert!(path.exists());
    drop(foreign);
}

#[test]
fn regular_file_at_the_socket_path_is_an_error_and_is_not_deleted() {
    let dir = tempdir();
    let path = dir.path().join("precious.txt");
    std::fs::write(&path, "keep me").expect("write");
    let url = format!("unix://{}", path.display());
    fails_to_start(&["serve", "echo", &url], &["not a socket", &url]);
    assert_eq!(
        std::fs::read_to_string(&path).expect("still there"),
        "keep me"
    );
    // A directory too.
    let sub = dir.path().join("subdir");
    std::fs::create_dir(&sub).expect("mkdir");
    let url = format!("unix://{}", sub.display());
    fails_to_start(&["serve", "echo", &url], &[&url]);
    assert!(sub.is_dir());
}

#[test]
fn socket_file_of_a_replaced_socket_is_not_removed_by_the_old_server() {
    // A server removes only the socket file it created.
    let dir = tempdir();
    let path = dir.path().join("s.sock");
    let url = format!("unix://{}", path.display());
    let mut s = Server::serve("echo", &[&url], &[]);
    std::fs::remove_file(&path).expect("remove");
    std::fs::write(&path, "not a socket").expect("write");
    s.signal(libc::SIGTERM);
    assert_eq!(s.wait_exit(WAIT).and_then(|st| st.code()), Some(0));
    assert_eq!(
        std::fs::read_to_string(&path).expect("kept"),
        "not a socket"
    );
}

#[test]
fn relative_unix_path_is_relative_to_the_working_directory() {
    let dir = tempdir();
    let mut cmd = duplex();
    cmd.current_dir(dir.path())
        .args(["serve", "echo", "unix://rel.sock"]);
    let s = Server::try_start_cmd(cmd, 1).expect("start");
    assert_eq!(s.url(0), "unix://rel.sock");
    assert!(dir.path().join("rel.sock").exists());
    assert_eq!(Conn::unix(&dir.path().join("rel.sock")).ask("rel"), "rel");
}

#[test]
fn unix_socket_in_a_missing_directory_is_one_clear_line() {
    fails_to_start(
        &["serve", "echo", "unix:///nonexistent-dir/x.sock"],
        &["/nonexistent-dir/x.sock"],
    );
}

#[test]
fn refused_tcp_connect_to_a_stopped_server() {
    // After the server is gone its port refuses connections (nothing lingers).
    let mut s = Server::serve("echo", &["tcp://127.0.0.1:0"], &[]);
    let addr = s.addr(0);
    s.signal(libc::SIGTERM);
    assert!(s.wait_exit(WAIT).is_some());
    assert!(TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err());
}
