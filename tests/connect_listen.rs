//! `duplex connect --listen` (docs/behaviour.md, "Relaying"): `nc -l`,
//! `nc -lk`, `nc -lu` and a listening TLS end, with OpenBSD `nc` and
//! `socat` as the clients. WebSocket listeners: `connect_listen_ws.rs`.

mod common;
mod connect_peers;
mod tlsutil;

use std::process::Command;

use common::*;
use connect_peers::{assert_one_line, listen, nc, sigint, tool, wait_for_sigint_handler};
use tlsutil::make_cert;

fn port(url: &str) -> String {
    socket_addr(url).port().to_string()
}

fn with(mut cmd: Command, args: &[&str]) -> Command {
    cmd.args(args);
    cmd
}

/// One exchange each way between `d` (duplex) and a client process.
fn converse(d: &mut Interactive, client: &mut Interactive) {
    client.write(b"from the client\n");
    assert_eq!(d.read_line(WAIT), "from the client");
    d.write(b"from duplex\n");
    assert_eq!(client.read_line(WAIT), "from duplex");
}

#[test]
fn listen_serves_one_nc_client_and_exits_when_it_is_done() {
    let (mut d, url) = listen(&["tcp://127.0.0.1:0"]);
    let mut client = Interactive::spawn(with(nc(), &["-N", "127.0.0.1", &port(&url)]));
    converse(&mut d, &mut client);
    // The client's end ends the session, and the command.
    client.close_stdin();
    let status = d.wait(WAIT).expect("exits after the session");
    assert_eq!(status.code(), Some(0), "{}", d.stderr());
    assert_eq!(client.read_to_end(WAIT), b"");
}

#[test]
fn keep_listening_serves_one_client_after_another() {
    let (mut d, url) = listen(&["-k", "tcp://127.0.0.1:0"]);
    for _ in 0..2 {
        let mut client = Interactive::spawn(with(nc(), &["-N", "127.0.0.1", &port(&url)]));
        converse(&mut d, &mut client);
        client.close_stdin();
        assert_eq!(client.read_to_end(WAIT), b"");
        assert!(client.wait(WAIT).is_some());
    }
    assert!(
        d.wait(std::time::Duration::from_millis(300)).is_none(),
        "-k keeps listening"
    );
}

#[test]
fn listen_on_udp_takes_the_first_sender_as_the_peer() {
    let (mut d, url) = listen(&["udp://127.0.0.1:0", "--wait", "500ms"]);
    let mut client = Interactive::spawn(with(nc(), &["-u", "127.0.0.1", &port(&url)]));
    converse(&mut d, &mut client);
    // Stdin's end ends the session once nothing has come for --wait.
    d.close_stdin();
    let status = d.wait(WAIT).expect("exits --wait after stdin's end");
    assert_eq!(status.code(), Some(0), "{}", d.stderr());
}

#[test]
fn listen_on_unix_with_socat_as_the_client() {
    let dir = tempdir();
    let (mut d, url) = listen(&[&unix_url(dir.path(), "l.sock")]);
    let path = url.trim_start_matches("unix://").to_string();
    let socat = tool("socat", "socat");
    let mut client = Interactive::spawn(with(socat, &["-", &format!("UNIX-CONNECT:{path}")]));
    converse(&mut d, &mut client);
    client.close_stdin();
    assert_eq!(
        d.wait(WAIT).and_then(|s| s.code()),
        Some(0),
        "{}",
        d.stderr()
    );
    // The socket file is removed with the listener.
    assert!(!std::path::Path::new(&path).exists());
}

#[test]
fn listen_on_tls_with_socat_openssl_as_the_client() {
    let dir = tempdir();
    let cert = make_cert(dir.path());
    let (c, k) = cert.paths();
    let (mut d, url) = listen(&["tls://127.0.0.1:0", "--tls-cert", &c, "--tls-key", &k]);
    let target = format!(
        "OPENSSL:127.0.0.1:{},cafile={c},commonname=localhost",
        port(&url)
    );
    let mut client = Interactive::spawn(with(tool("socat", "socat"), &["-", &target]));
    converse(&mut d, &mut client);
    client.close_stdin();
    assert_eq!(
        d.wait(WAIT).and_then(|s| s.code()),
        Some(0),
        "{}",
        d.stderr()
    );
}

#[test]
fn ctrl_c_while_listening_exits_130() {
    let (mut d, _url) = listen(&["tcp://127.0.0.1:0"]);
    let pid = d.child.id();
    wait_for_sigint_handler(pid);
    sigint(pid);
    assert_eq!(d.wait(WAIT).and_then(|s| s.code()), Some(130));
}

#[test]
fn listen_mistakes_get_one_clear_line() {
    let out = run_duplex(&["connect", "-l", "tls://127.0.0.1:0"], WAIT);
    assert_eq!(out.code(), Some(1), "{out:?}");
    assert_one_line(&out.stderr, &["needs --tls-cert and --tls-key"]);
    let out = run_duplex(&["connect", "-l", "wss://127.0.0.1:0/"], WAIT);
    assert_eq!(out.code(), Some(1), "{out:?}");
    assert_one_line(
        &out.stderr,
        &["--listen on wss:// needs --tls-cert and --tls-key"],
    );
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("tcp://{}", taken.local_addr().expect("addr"));
    let out = run_duplex(&["connect", "-l", &url], WAIT);
    assert_eq!(out.code(), Some(1), "{out:?}");
    assert_one_line(&out.stderr, &["address already in use"]);
    for args in [
        &["connect", "-k", "tcp://127.0.0.1:1"][..],
        &[
            "connect",
            "--tls-cert",
            "c.pem",
            "--tls-key",
            "k.pem",
            "tls://127.0.0.1:1",
        ],
        &["connect", "-l", "-z", "tcp://127.0.0.1:0"],
    ] {
        let out = run_duplex(args, WAIT);
        assert_eq!(out.code(), Some(2), "{args:?}: {out:?}");
    }
}
