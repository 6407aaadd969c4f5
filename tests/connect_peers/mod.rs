//! Peers of the `duplex connect` tests (and of the WebSocket interop
//! tests), none of them written here in Rust where a real tool does the
//! job: OpenBSD `nc`, `socat` (which also plays the server that never
//! closes, or stays silent), Python `websockets` (tests/py/ws_echo_server.py
//! and tests/py/connect_peer.py as servers, tests/py/ws_client.py as a
//! client), and a few plain std sockets for what the tests must observe
//! byte for byte.

#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::common::*;

/// How long a Python peer may take to start and say where it listens.
const PEER_STARTUP: Duration = Duration::from_secs(30);

/// `duplex connect ARGS…`.
pub fn connect(args: &[&str]) -> Command {
    let mut cmd = duplex();
    cmd.arg("connect").args(args);
    cmd
}

/// `duplex connect -l ARGS…` and the URL it listens on (from its log).
pub fn listen(args: &[&str]) -> (Interactive, String) {
    let mut all = vec!["-l"];
    all.extend_from_slice(args);
    let d = Interactive::spawn(connect(&all));
    let url = d.stderr_after("listening on ", WAIT);
    let url = url.unwrap_or_else(|| panic!("no 'listening on' line: {}", d.stderr()));
    (d, url)
}

/// `name`, or a failure saying which Debian package `scripts/test.sh`
/// installs it from.
pub fn tool(name: &str, package: &str) -> Command {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "{name} is not installed: run scripts/test.sh (apt-get install -y {package})"
    );
    Command::new(name)
}

/// OpenBSD netcat.
pub fn nc() -> Command {
    tool("nc.openbsd", "netcat-openbsd")
}

/// `socat -d -d -t 30 LISTEN SYSTEM:script`: a one-client server whose
/// behaviour is a shell script (`cat` echoes, `sleep 10` holds the
/// connection open without a word; `-t 30` keeps socat from closing half
/// a second after the client's EOF). Returns it with its TCP port (0 for
/// unix listeners, which are ready once their file exists).
pub fn socat_server(listen: &str, script: &str) -> (Interactive, u16) {
    let mut cmd = tool("socat", "socat");
    cmd.args(["-d", "-d", "-t", "30", listen, &format!("SYSTEM:{script}")]);
    let srv = Interactive::spawn(cmd);
    if let Some(path) = listen
        .strip_prefix("UNIX-LISTEN:")
        .map(|r| r.split(',').next().unwrap_or(r))
    {
        let ready = eventually(WAIT, || Path::new(path).exists());
        assert!(ready, "socat did not create {path}: {}", srv.stderr());
        return (srv, 0);
    }
    // socat -d -d says `listening on AF=2 127.0.0.1:PORT`.
    let port = srv
        .stderr_after("listening on ", WAIT)
        .and_then(|addr| addr.rsplit(':').next()?.parse::<u16>().ok());
    let port = port.unwrap_or_else(|| panic!("socat reported no port: {}", srv.stderr()));
    (srv, port)
}

/// A Python WebSocket server reporting what it sees as JSON lines.
pub struct WsPeer {
    proc: Interactive,
    pub port: u16,
}

impl WsPeer {
    /// tests/py/ws_echo_server.py: echoes, reports messages and closes.
    pub fn echo() -> WsPeer {
        WsPeer::echo_with(&[])
    }

    /// tests/py/ws_echo_server.py ARGS… (a lifetime, `--no-compression`).
    pub fn echo_with(args: &[&str]) -> WsPeer {
        let mut cmd = py_script("ws_echo_server.py");
        cmd.args(args);
        WsPeer::start(cmd)
    }

    /// tests/py/connect_peer.py MODE ARGS…
    pub fn with(args: &[&str]) -> WsPeer {
        let mut cmd = py_script("connect_peer.py");
        cmd.args(args);
        WsPeer::start(cmd)
    }

    fn start(cmd: Command) -> WsPeer {
        let mut proc = Interactive::spawn(cmd);
        // Python importing `websockets` is what takes time here: seconds
        // on a machine with far more to run than it has cores.
        let first: Value =
            serde_json::from_str(&proc.read_line(PEER_STARTUP)).expect("a JSON line");
        let port = first["listening"].as_u64().expect("{\"listening\": PORT}") as u16;
        WsPeer { proc, port }
    }

    pub fn url(&self, path: &str) -> String {
        format!("ws://127.0.0.1:{}{path}", self.port)
    }

    /// The next event the server reports; panics after [`WAIT`].
    pub fn next(&mut self) -> Value {
        serde_json::from_str(&self.proc.read_line(WAIT)).expect("a JSON line")
    }

    /// Skips events until a close and returns it.
    pub fn close_event(&mut self) -> Value {
        loop {
            let e = self.next();
            if e.get("close").is_some() {
                return e;
            }
        }
    }
}

/// How long tests/py/ws_client.py may take (its own bound is 60 s).
const PY_CLIENT_WAIT: Duration = Duration::from_secs(70);

/// tests/py/ws_client.py URL ARGS… (with `env`), `steps` written to its
/// stdin, which is then closed: it runs them and prints what it sees.
pub fn py_ws_client_spawn(
    url: &str,
    args: &[&str],
    env: &[(&str, &str)],
    steps: &Value,
) -> Interactive {
    let mut cmd = py_script("ws_client.py");
    cmd.arg(url).args(args).envs(env.iter().copied());
    let mut client = Interactive::spawn(cmd);
    client.write(steps.to_string().as_bytes());
    client.close_stdin();
    client
}

/// [`py_ws_client_spawn`] run to its end, which must be a success: what
/// the handshake agreed (its first line), then every event it reported.
pub fn py_ws_client(
    url: &str,
    args: &[&str],
    env: &[(&str, &str)],
    steps: &Value,
) -> (Value, Vec<Value>) {
    let mut client = py_ws_client_spawn(url, args, env, steps);
    let out = String::from_utf8_lossy(&client.read_to_end(PY_CLIENT_WAIT)).into_owned();
    let status = client.wait(WAIT).expect("ws_client.py exits");
    assert_eq!(
        status.code(),
        Some(0),
        "ws_client.py failed: {}",
        client.stderr_to_end()
    );
    let mut lines = json_lines(&out);
    assert!(!lines.is_empty(), "no handshake line: {}", client.stderr());
    let handshake = lines.remove(0);
    (handshake, lines)
}

/// Every line of `out` as JSON.
pub fn json_lines(out: &str) -> Vec<Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// Writes `lines` to `duplex connect`, reads each echo back, then ends
/// its stdin: it must exit 0. Stdin stays open until the echoes are
/// printed: a Python server answers a close frame at once, before echoing
/// what is still queued, as RFC 6455 allows.
pub fn echo_lines(c: &mut Interactive, lines: &[&str]) {
    for l in lines {
        c.write(format!("{l}\n").as_bytes());
    }
    for l in lines {
        assert_eq!(&c.read_line(WAIT), l);
    }
    c.close_stdin();
    let status = c.wait(WAIT).expect("connect exits at stdin EOF");
    assert_eq!(status.code(), Some(0), "{}", c.stderr());
}

/// A TCP listener whose accept queue is full: connecting to it hangs until
/// the client's timeout. Keep the returned value alive while it is used.
pub struct FullBacklog {
    pub addr: SocketAddr,
    _listener: TcpListener,
    _held: Vec<TcpStream>,
}

pub fn full_backlog() -> FullBacklog {
    // A listener with a backlog of 0 that never accepts: once its queue is
    // full, further SYNs are dropped and connecting hangs.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    // listen(2) again on the socket we own, to shrink its backlog.
    rustix::net::listen(&listener, 0).expect("listen");
    let mut held = Vec::new();
    for _ in 0..8 {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
            Ok(s) => held.push(s),
            Err(_) => {
                return FullBacklog {
                    addr,
                    _listener: listener,
                    _held: held,
                };
            }
        }
    }
    panic!("could not fill the listen queue");
}

/// A UDP port on 127.0.0.1 that nothing listens on (bound, then released).
pub fn closed_udp_port() -> u16 {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
    s.local_addr().expect("addr").port()
}

/// A UDP server that answers the first datagram with `late`, `delay`
/// after it came. Returns its URL and the thread to join.
pub fn late_udp_responder(delay: Duration) -> (String, std::thread::JoinHandle<()>) {
    let server = UdpSocket::bind("127.0.0.1:0").expect("bind");
    server.set_read_timeout(Some(WAIT)).expect("timeout");
    let url = format!("udp://{}", server.local_addr().expect("addr"));
    let responder = std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        let (_, peer) = server.recv_from(&mut buf).expect("a datagram");
        std::thread::sleep(delay);
        let _ = server.send_to(b"late", peer);
    });
    (url, responder)
}

/// Sends SIGINT (what Ctrl-C sends) to `pid`.
pub fn sigint(pid: u32) {
    let pid = rustix::process::Pid::from_raw(pid as i32).expect("a process id above 0");
    rustix::process::kill_process(pid, rustix::process::Signal::INT).expect("kill(SIGINT)");
}

/// Waits until process `pid` catches SIGINT (SigCgt in /proc), so that a
/// SIGINT sent next reaches its handler rather than the default action.
pub fn wait_for_sigint_handler(pid: u32) {
    let caught = eventually(WAIT, || {
        std::fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("SigCgt:"))
                .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
                .is_some_and(|m| m & (1 << (libc::SIGINT - 1)) != 0)
        })
    });
    assert!(caught, "process {pid} never caught SIGINT");
}

/// Asserts that `stderr` is one line (blank lines aside) and that it
/// contains each of `wants`.
pub fn assert_one_line(stderr: &str, wants: &[&str]) {
    let lines = nonempty_lines(stderr);
    assert_eq!(lines.len(), 1, "one line expected: {stderr}");
    for want in wants {
        assert!(lines[0].contains(want), "'{want}' missing from: {stderr}");
    }
}

/// Asserts that no line of `stderr` ends in whitespace.
pub fn assert_no_trailing_space(stderr: &str) {
    for line in stderr.lines() {
        assert_eq!(line, line.trim_end(), "trailing space in {stderr:?}");
    }
}
