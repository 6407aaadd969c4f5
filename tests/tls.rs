//! TLS against real peers: `openssl s_client`, Python's `ssl` module and the
//! `websockets` library as clients of `duplex serve … tls:// wss://`;
//! `duplex connect tls://` against a TLS echo server on Python's `ssl`; and
//! the start-up errors for bad certificate and key files.
//!
//! The certificates come from `duplex cert`. `openssl` and the project's
//! `.venv` (with `websockets`) are installed by `scripts/test.sh`; a missing
//! tool fails the tests.
// The crate denies unsafe code; one test here asks geteuid(2) whether it
// runs as root.
#![allow(unsafe_code)]

mod common;
mod tlsutil;

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;
use tlsutil::*;

fn openssl() -> Command {
    let ok = Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "openssl is needed (Debian package openssl); scripts/test.sh installs it"
    );
    Command::new("openssl")
}

/// `duplex serve SERVICE URLS… --tls-cert … --tls-key … EXTRA…`.
fn serve_tls(service: &str, urls: &[&str], cert: &CertFiles, extra: &[&str]) -> Server {
    let tls = tls_args(cert);
    let mut args: Vec<&str> = tls.iter().map(String::as_str).collect();
    args.extend_from_slice(extra);
    Server::serve(service, urls, &args)
}

fn port_of(url: &str) -> &str {
    url.rsplit(':')
        .next()
        .and_then(|p| p.split('/').next())
        .expect("a port")
}

// ---------------------------------------------------------------------------
// openssl s_client as a client of tls://

fn s_client(port: &str, cert: &CertFiles, extra: &[&str], input: &[u8]) -> Output {
    let mut cmd = openssl();
    cmd.args([
        "s_client",
        "-connect",
        &format!("127.0.0.1:{port}"),
        "-servername",
        "localhost",
        "-verify_hostname",
        "localhost",
        "-verify_return_error",
        "-CAfile",
        &cert.cert.display().to_string(),
        // Keep reading after stdin ends: the server closes the session.
        "-ign_eof",
    ]);
    cmd.args(extra);
    run_with_input(cmd, input, Duration::from_secs(20))
}

#[test]
fn openssl_s_client_verifies_the_certificate_and_talks_to_tls_echo() {
    let dir = tempdir();
    let cert = make_cert(dir.path());
    // A short idle timeout ends the session once the echo is back.
    let s = serve_tls(
        "echo",
        &["tls://127.0.0.1:0"],
        &cert,
        &["--idle-timeout", "1s"],
    );
    let out = s_client(port_of(s.url(0)), &cert, &[], b"hello over TLS\n");
    let stdout = out.stdout_str();
    assert_eq!(out.code(), Some(0), "s_client failed: {}", out.stderr);
    assert!(
        stdout.contains("Verify return code: 0 (ok)"),
        "not verified: {stdout}"
    );
    assert!(
        stdout.lines().any(|l| l == "hello over TLS"),
        "no echo in {stdout}"
    );
}

#[test]
fn openssl_s_client_negotiates_tls_1_2_and_1_3_with_random() {
    let dir = tempdir();
    let cert = make_cert(dir.path());
    let s = serve_tls("random", &["tls://127.0.0.1:0"], &cert, &[]);
    for (flag, version) in [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")] {
        // STOP ends the session, so s_client exits.
        let out = s_client(port_of(s.url(0)), &cert, &[flag], b"3 7 7\nSTOP\n");
        let stdout = out.stdout_str();
        assert_eq!(out.code(), Some(0), "{flag}: {}", out.stderr);
        assert!(
            stdout.contains(&format!("Protocol  : {version}"))
                || stdout.contains(&format!("New, {version}")),
            "{flag}: not {version}: {stdout}"
        );
        let sevens = stdout.lines().filter(|l| *l == "7").count();
        assert_eq!(sevens, 3, "{flag}: {stdout}");
    }
}

#[test]
fn openssl_s_client_without_the_ca_refuses_the_self_signed_certificate() {
    let dir = tempdir();
    let cert = make_cert(dir.path());
    let other = make_cert(&dir.path().join("other"));
    let s = serve_tls("echo", &["tls://127.0.0.1:0"], &cert, &[]);
    // Trusting another self-signed certificate is not trusting this one.
    let out = s_client(port_of(s.url(0)), &other, &[], b"hello\n");
    assert_ne!(
        out.code(),
        Some(0),
        "verification passed: {}",
        out.stdout_str()
    );
    assert!(!out.stdout_str().lines().any(|l| l == "hello"));
}

#[test]
fn sessions_the_server_ends_end_with_close_notify() {
    let dir = tempdir();
    let cert = make_cert(dir.path());
    for service in ["echo", "counter"] {
        // Ended by the idle timeout.
        let s = serve_tls(
            service,
            &["tls://127.0.0.1:0"],
            &cert,
            &["--idle-timeout", "500ms"],
        );
        let mut idle = TlsStream::connect(tls_socket_addr(s.url(0)), &cert.cert);
        let mut buf = [0u8; 64];
        match idle.read_strict(&mut buf) {
            Ok(0) => {}
            other => panic!("{service}: idle session ended with {other:?}, not close_notify"),
        }
        // Ended by graceful shutdown.
        let mut s = serve_tls(service, &["tls://127.0.0.1:0"], &cert, &[]);
        let mut shut = TlsStream::connect(tls_socket_addr(s.url(0)), &cert.cert);
        shut.write_all(b"1\n").expect("send");
        assert!(matches!(shut.read_strict(&mut buf), Ok(n) if n > 0));
        s.signal(libc::SIGTERM);
        match shut.read_strict(&mut buf) {
            Ok(0) => {}
            other => {
                panic!("{service}: shutdown ended the session with {other:?}, not close_notify")
            }
        }
        assert_eq!(s.wait_exit(WAIT).and_then(|st| st.code()), Some(0));
    }
}

fn tls_socket_addr(url: &str) -> std::net::SocketAddr {
    socket_addr(&url.replace("tls://", "tcp://"))
}

// ---------------------------------------------------------------------------
// Python's ssl and websockets as clients of tls:// and wss://

const PY_TLS_CLIENT: &str = r#"
import socket, ssl, sys
port, cafile = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=cafile)
with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
    with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
        print(tls.version(), flush=True)
        tls.sendall(b"2 5 5\n")
        data = b""
        while data.count(b"\n") < 2:
            chunk = tls.recv(4096)
            if not chunk:
                break
            data += chunk
        sys.stdout.write(data.decode())
"#;

#[test]
fn python_ssl_client_verifies_and_talks_to_tls_random() {
    let dir = tempdir();
    let cert = make_cert(dir.path());
    let s = serve_tls("random", &["tls://127.0.0.1:0"], &cert, &[]);
    let mut cmd = venv_python();
    cmd.args(["-c", PY_TLS_CLIENT, port_of(s.url(0))])
        .arg(&cert.cert);
    let out = run(cmd, WAIT);
    assert_eq!(out.code(), Some(0), "python ssl client: {}", out.stderr);
    let lines: Vec<String> = out.stdout_str().lines().map(String::from).collect();
    assert!(lines[0].starts_with("TLSv1."), "{lines:?}");
    assert_eq!(lines[1..], ["5", "5"]);
}

/// The asyncio client, not `websockets.sync`: the sync client reads the TLS
/// socket in a thread of its own while the main thread writes the upgrade
/// request on the same SSL object, and now and then (about 1 run in 40
/// here, against duplex on yawc and on tokio-websockets alike) its request
/// is never answered; the asyncio client never hung in 160 runs.
const PY_WSS_CLIENT: &str = r#"
import asyncio, ssl, sys
from websockets.asyncio.client import connect
async def main(url, ctx):
    async with connect(url, ssl=ctx, open_timeout=5, close_timeout=5) as ws:
        await ws.send("hello over wss")
        print(await asyncio.wait_for(ws.recv(), 5), flush=True)
        await ws.send(bytes([0, 255, 16]))
        print((await asyncio.wait_for(ws.recv(), 5)).hex(), flush=True)
ctx = ssl.create_default_context(cafile=sys.argv[2] if len(sys.argv) > 2 else None)
try:
    asyncio.run(main(sys.argv[1], ctx))
except ssl.SSLCertVerificationError as e:
    print(f"verification failed: {e.verify_message}", flush=True)
    sys.exit(3)
"#;

#[test]
fn python_websockets_client_verifies_and_talks_to_wss_echo() {
    let dir = tempdir();
    let cert = make_cert(dir.path());
    let s = serve_tls("echo", &["wss://127.0.0.1:0/echo"], &cert, &[]);
    let url = s.url(0).replace("127.0.0.1", "localhost");
    let mut cmd = venv_python();
    cmd.args(["-c", PY_WSS_CLIENT, &url]).arg(&cert.cert);
    let out = run(cmd, WAIT);
    assert_eq!(out.code(), Some(0), "python wss client: {}", out.stderr);
    assert_eq!(out.stdout_str(), "hello over wss\n00ff10\n");
}

#[test]
fn python_websockets_client_without_the_ca_refuses_wss() {
    let dir = tempdir();
    let cert = make_cert(dir.path());
    let s = serve_tls("echo", &["wss://127.0.0.1:0/echo"], &cert, &[]);
    let url = s.url(0).replace("127.0.0.1", "localhost");
    let mut cmd = venv_python();
    cmd.args(["-c", PY_WSS_CLIENT, &url]);
    let out = run(cmd, WAIT);
    assert_eq!(out.code(), Some(3), "{} {}", out.stdout_str(), out.stderr);
    assert!(
        out.stdout_str().contains("verification failed"),
        "{}",
        out.stdout_str()
    );
}

// ---------------------------------------------------------------------------
// duplex connect tls:// against Python's ssl

/// A Python TLS echo server for `connections` clients; returns it and its port.
fn python_tls_server(cert: &CertFiles, connections: u32) -> (Interactive, String) {
    let mut cmd = py_script("tls_echo_server.py");
    cmd.arg(&cert.cert)
        .arg(&cert.key)
        .arg(connections.to_string());
    let mut server = Interactive::spawn(cmd);
    let line = server.read_line(WAIT);
    let port = line
        .strip_prefix("port ")
        .unwrap_or_else(|| panic!("tls_echo_server.py said {line:?}"))
        .to_string();
    (server, port)
}

fn connect_tls(port: &str, extra: &[&str], input: &[u8]) -> Output {
    let mut cmd = duplex();
    cmd.args(["connect", &format!("tls://localhost:{port}")]);
    cmd.args(extra);
    run_with_input(cmd, input, WAIT)
}

#[test]
fn connect_tls_with_ca_verifies_a_python_tls_server() {
    let dir = tempdir();
    let cert = make_cert(dir.path());
    let (_server, port) = python_tls_server(&cert, 1);
    let ca = cert.cert.display().to_string();
    let out = connect_tls(&port, &["--ca", &ca], b"hello\nworld\n");
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert_eq!(out.stdout_str(), "hello\nworld\n");
    assert!(nonempty_lines(&out.stderr).is_empty(), "{}", out.stderr);
}

#[test]
fn connect_tls_without_ca_fails_verification_with_a_clear_error() {
    let dir = tempdir();
    let cert = make_cert(dir.path());
    let (_server, port) = python_tls_server(&cert, 1);
    let out = connect_tls(&port, &[], b"hello\n");
    assert_eq!(out.code(), Some(1), "{}", out.stderr);
    assert!(out.stdout.is_empty(), "{}", out.stdout_str());
    let lines = nonempty_lines(&out.stderr);
    assert_eq!(lines.len(), 1, "one line: {}", out.stderr);
    let line = lines[0].to_ascii_lowercase();
    assert!(
        line.contains("certificate") && line.contains(&format!("tls://localhost:{port}")),
        "{}",
        lines[0]
    );
}

#[test]
fn connect_tls_insecure_works_and_warns_on_stderr() {
    let dir = tempdir();
    let cert = make_cert(dir.path());
    let (_server, port) = python_tls_server(&cert, 1);
    let out = connect_tls(&port, &["--insecure"], b"unverified\n");
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert_eq!(out.stdout_str(), "unverified\n");
    assert!(
        out.stderr.contains("--insecure") && out.stderr.contains("NOT verified"),
        "no warning: {:?}",
        out.stderr
    );
}

// ---------------------------------------------------------------------------
// Start-up errors

/// Runs `duplex serve` (optionally as an unprivileged user) and returns its
/// one line of stderr, asserting it exited non-zero without listening.
fn start_error(args: &[&str], unprivileged: bool) -> String {
    let mut cmd = if unprivileged {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", BIN]);
        c
    } else {
        duplex()
    };
    cmd.args(args);
    let out = run(cmd, WAIT);
    assert_ne!(out.code(), Some(0), "started: {}", out.stdout_str());
    assert!(
        !out.stdout_str().contains("listening"),
        "{}",
        out.stdout_str()
    );
    let lines = nonempty_lines(&out.stderr);
    assert_eq!(lines.len(), 1, "one line: {}", out.stderr);
    lines[0].to_string()
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn missing_key_file_is_a_clear_start_error() {
    let dir = tempdir();
    let cert = make_cert(dir.path());
    let missing = dir.path().join("nope.pem");
    let e = start_error(
        &[
            "serve",
            "echo",
            "tls://127.0.0.1:0",
            "--tls-cert",
            &path(&cert.cert),
            "--tls-key",
            &path(&missing),
        ],
        false,
    );
    assert!(
        e.contains("--tls-key") && e.contains(&path(&missing)),
        "{e}"
    );
    assert!(e.to_ascii_lowercase().contains("no such file"), "{e}");
}

#[test]
fn unreadable_key_file_is_a_clear_start_error() {
    let dir = tempdir();
    let cert = make_cert(&dir.path().join("pair"));
    // A key the server may not read: mode 000, read by an unprivileged user
    // (root reads every file, so the server runs as nobody).
    use std::os::unix::fs::PermissionsExt;
    let set = |p: &Path, mode: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod")
    };
    set(dir.path(), 0o755);
    set(&cert.dir, 0o755);
    set(&cert.cert, 0o644);
    set(&cert.key, 0o000);
    let unprivileged = unsafe { libc::geteuid() } == 0;
    if unprivileged {
        let setpriv = Command::new("setpriv").arg("--version").output();
        assert!(
            setpriv.is_ok_and(|o| o.status.success()),
            "setpriv (util-linux) is needed to run as an unprivileged user; scripts/test.sh installs it"
        );
    }
    let e = start_error(
        &[
            "serve",
            "echo",
            "tls://127.0.0.1:0",
            "--tls-cert",
            &path(&cert.cert),
            "--tls-key",
            &path(&cert.key),
        ],
        unprivileged,
    );
    assert!(
        e.contains("cannot read --tls-key") && e.contains(&path(&cert.key)),
        "{e}"
    );
    assert!(e.to_ascii_lowercase().contains("permission denied"), "{e}");
    // A directory where the key should be cannot be read either.
    let e = start_error(
        &[
            "serve",
            "echo",
            "tls://127.0.0.1:0",
            "--tls-cert",
            &path(&cert.cert),
            "--tls-key",
            &path(dir.path()),
        ],
        false,
    );
    assert!(e.contains("cannot read --tls-key"), "{e}");
}

#[test]
fn certificate_and_key_of_different_pairs_are_a_clear_start_error() {
    let dir = tempdir();
    let a = make_cert(&dir.path().join("a"));
    let b = make_cert(&dir.path().join("b"));
    let e = start_error(
        &[
            "serve",
            "echo",
            "tls://127.0.0.1:0",
            "--tls-cert",
            &path(&a.cert),
            "--tls-key",
            &path(&b.key),
        ],
        false,
    );
    assert!(
        e.contains("does not fit") && e.contains(&path(&a.cert)) && e.contains(&path(&b.key)),
        "{e}"
    );
}

#[test]
fn key_and_certificate_swapped_are_a_clear_start_error() {
    let dir = tempdir();
    let c = make_cert(dir.path());
    let e = start_error(
        &[
            "serve",
            "echo",
            "tls://127.0.0.1:0",
            "--tls-cert",
            &path(&c.key),
            "--tls-key",
            &path(&c.cert),
        ],
        false,
    );
    assert!(
        e.contains("--tls-cert") && e.contains("no PEM certificate"),
        "{e}"
    );
}

#[test]
fn tls_and_wss_urls_without_tls_cert_are_a_clear_start_error() {
    for url in ["tls://127.0.0.1:0", "wss://127.0.0.1:0/ws"] {
        let e = start_error(&["serve", "echo", "tcp://127.0.0.1:0", url], false);
        assert!(
            e.contains("--tls-cert") && e.contains("--tls-key") && e.contains("duplex cert"),
            "{url}: {e}"
        );
    }
}
