//! Helpers of the tests of many instances (docs/behaviour.md, "Many
//! instances"): a private network namespace, free ports, the real Redis,
//! and a minimal WebSocket client that can pick its source address. Every
//! process is started in the foreground on loopback and stopped by PID.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{BIN, WAIT, wait_child};

pub mod balancer;

/// A fresh network namespace with its own loopback, held open by a
/// sleeping process: processes started through [`Netns::command`] share it,
/// and its sysctls are its own (so a test may set
/// `net.ipv4.tcp_migrate_req` without touching the machine's).
pub struct Netns {
    holder: Child,
}

impl Netns {
    /// Needs root (as CI runs); fails with the reason otherwise.
    pub fn new(sysctls: &[(&str, &str)]) -> Netns {
        let mut script = String::from("set -e\nip link set lo up\n");
        for (key, value) in sysctls {
            let path = format!("/proc/sys/{}", key.replace('.', "/"));
            script.push_str(&format!("echo {value} > {path}\n"));
        }
        script.push_str("echo ready\nexec sleep 600\n");
        let mut holder = Command::new("unshare")
            .args(["--net", "sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn unshare (util-linux)");
        let mut line = String::new();
        let mut out = BufReader::new(holder.stdout.take().expect("piped"));
        let _ = out.read_line(&mut line);
        if line.trim() != "ready" {
            let mut err = String::new();
            if let Some(mut e) = holder.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            let _ = holder.kill();
            panic!("cannot make a network namespace (these tests need root, as CI has): {err}");
        }
        Netns { holder }
    }

    /// `program args…` inside the namespace (nsenter execs it: its PID is
    /// the program's own).
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(format!("--net=/proc/{}/ns/net", self.holder.id()))
            .arg("--")
            .arg(program);
        c
    }

    /// `duplex` inside the namespace.
    pub fn duplex(&self) -> Command {
        self.command(BIN)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

/// A port nobody listens on right now, for a program that is told its
/// port before it binds (HAProxy, nginx, redis-server, the instances).
///
/// Taken below Linux's ephemeral range (32768–60999): a port the kernel
/// hands out for port 0 can be handed again, to any other test's
/// outgoing connection, before the program binds it. Below that range
/// only programs told a port take one, and every port handed out here
/// is handed out once per test process.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const LOW: u32 = 20_000;
    const SPAN: u32 = 12_000;
    // Test binaries run side by side: each starts where its process id
    // says, and goes on from the last port it handed out.
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let _ = NEXT.compare_exchange(
        u32::MAX,
        std::process::id().wrapping_mul(97) % SPAN,
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
    for _ in 0..SPAN {
        let port = (LOW + NEXT.fetch_add(1, Ordering::Relaxed) % SPAN) as u16;
        let tcp = std::net::TcpListener::bind(("127.0.0.1", port));
        let udp = std::net::UdpSocket::bind(("127.0.0.1", port));
        if tcp.is_ok() && udp.is_ok() {
            return port;
        }
    }
    panic!("no free port between 20000 and 32000 on 127.0.0.1");
}

/// Fails with `what` and the output of `cmd` unless it exits 0.
pub fn run_ok(mut cmd: Command, what: &str) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Polls until a TCP connection to `addr` succeeds.
pub fn wait_listening(addr: SocketAddr, what: &str) {
    let deadline = Instant::now() + WAIT;
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} is not listening on {addr}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends `sig` to `pid`.
pub fn kill(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill -{sig} {pid}");
}

// ---------------------------------------------------------------------------
// Redis

/// `--counter-timeout` for tests that assert every count: each `INCR` waits
/// for Redis's fsync (`appendfsync always`, below), which a loaded machine
/// can stretch past the 1 s default, and an `INCR` that times out is
/// rightly a client not counted, whose number is skipped. An outage is
/// still seen at once: the connection is refused.
pub const EVERY_COUNT_ANSWERED: [&str; 2] = ["--counter-timeout", "5s"];

/// `redis-server` on a free loopback port, in the foreground, with its own
/// directory, append-only file and no snapshots: what it counted survives
/// a restart, as a counter store's must.
pub struct Redis {
    child: Option<Child>,
    pub port: u16,
    dir: PathBuf,
}

impl Redis {
    pub fn start(dir: &Path) -> Redis {
        let mut r = Redis {
            child: None,
            port: free_port(),
            dir: dir.to_path_buf(),
        };
        r.restart();
        r
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Starts it (again) on its port, with what it had persisted.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "redis is running");
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--dir", &self.dir.display().to_string()])
            .args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ])
            .args(["--daemonize", "no", "--logfile", ""])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server (Debian package redis-server)");
        self.child = Some(child);
        wait_listening(
            SocketAddr::from(([127, 0, 0, 1], self.port)),
            "redis-server",
        );
        // Loading the append-only file happens before it answers.
        let deadline = Instant::now() + WAIT;
        while self.try_cli(&["PING"]).as_deref() != Some("PONG") {
            assert!(
                Instant::now() < deadline,
                "redis-server does not answer PING"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops it (SIGTERM, waited for).
    pub fn stop(&mut self) {
        let mut child = self.child.take().expect("redis is running");
        kill(child.id(), "TERM");
        assert!(
            wait_child(&mut child, WAIT).is_some(),
            "redis-server did not exit"
        );
    }

    /// One `redis-cli` command's answer.
    pub fn cli(&self, args: &[&str]) -> String {
        self.try_cli(args)
            .unwrap_or_else(|| panic!("redis-cli {args:?} failed"))
    }

    fn try_cli(&self, args: &[&str]) -> Option<String> {
        let out = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(args)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// How many times Redis ran `command` (INFO commandstats).
    pub fn calls(&self, command: &str) -> u64 {
        let info = self.cli(&["INFO", "commandstats"]);
        let key = format!("cmdstat_{}:calls=", command.to_ascii_lowercase());
        info.lines()
            .find_map(|l| l.strip_prefix(&key))
            .and_then(|rest| rest.split(',').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

// ---------------------------------------------------------------------------
// Clients

/// A TCP connection from `source` (an address on loopback, e.g. 127.0.0.2,
/// so that a test can tell its clients from a balancer) to `to`.
pub fn connect_from(source: [u8; 4], to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    socket.bind(&SocketAddr::from((source, 0)).into())?;
    socket.connect_timeout(&to.into(), WAIT)?;
    let s: TcpStream = socket.into();
    s.set_read_timeout(Some(WAIT))?;
    s.set_write_timeout(Some(WAIT))?;
    Ok(s)
}

/// One request line over a stream, its one reply line.
pub fn ask_line<S: Read + Write>(s: &mut S, request: &str) -> std::io::Result<String> {
    s.write_all(format!("{request}\n").as_bytes())?;
    read_line(s)
}

/// One line (without its `\n`), read a byte at a time so that nothing
/// after it is taken from the stream.
pub fn read_line<S: Read>(s: &mut S) -> std::io::Result<String> {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    loop {
        match s.read(&mut b)? {
            0 => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("closed after {:?}", String::from_utf8_lossy(&line)),
                ));
            }
            _ if b[0] == b'\n' => return Ok(String::from_utf8_lossy(&line).into_owned()),
            _ => line.push(b[0]),
        }
    }
}

/// The WebSocket opening handshake for `path` over `s` (RFC 6455 §4.1).
pub fn ws_handshake<S: Read + Write>(s: &mut S, path: &str) -> std::io::Result<()> {
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: duplex\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    s.write_all(request.as_bytes())?;
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        if s.read(&mut b)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        head.push(b[0]);
        if head.len() > 8192 {
            return Err(std::io::Error::other("an HTTP head over 8 KiB"));
        }
    }
    let head = String::from_utf8_lossy(&head);
    if !head.starts_with("HTTP/1.1 101") {
        return Err(std::io::Error::other(format!("handshake refused: {head}")));
    }
    Ok(())
}

/// One text message (masked, as a client sends it), and the text of the
/// one message that answers it.
pub fn ws_ask<S: Read + Write>(s: &mut S, text: &str) -> std::io::Result<String> {
    let payload = text.as_bytes();
    assert!(payload.len() < 126, "short messages only");
    let mask = [0x12, 0x34, 0x56, 0x78];
    let mut frame = vec![0x81, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    s.write_all(&frame)?;
    let mut head = [0u8; 2];
    s.read_exact(&mut head)?;
    let len = match head[1] & 0x7f {
        126 => {
            let mut l = [0u8; 2];
            s.read_exact(&mut l)?;
            usize::from(u16::from_be_bytes(l))
        }
        127 => return Err(std::io::Error::other("a reply over 64 KiB")),
        n => usize::from(n),
    };
    let mut body = vec![0u8; len];
    s.read_exact(&mut body)?;
    if head[0] & 0x0f != 1 {
        return Err(std::io::Error::other(format!(
            "not a text message: opcode {} {:?}",
            head[0] & 0x0f,
            String::from_utf8_lossy(&body)
        )));
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// `GET path` over plain HTTP/1.0: the status code and the body.
pub fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect_timeout(&addr, WAIT).expect("connect");
    s.set_read_timeout(Some(WAIT)).expect("timeout");
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: duplex\r\n\r\n").as_bytes())
        .expect("request");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("response");
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {text:?}"));
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, body.to_string())
}

/// The value of one sample of a Prometheus text exposition, 0 when absent.
pub fn metric(text: &str, sample: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(sample)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0)
}
