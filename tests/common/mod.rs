//! Shared helpers of the integration tests: start the real `duplex` binary,
//! learn its addresses from the `listening SERVICE URL` lines, talk to it over
//! real sockets with a timeout on every read, and kill it when the test ends.
//!
//! Every helper is bounded in time: a read that does not complete within its
//! timeout panics with a message saying what was awaited.
// The crate denies unsafe code; these helpers send signals to the server
// process (libc::kill).
#![allow(unsafe_code)]
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, UdpSocket};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_duplex");

/// How long any single expected event may take before a test fails. Generous:
/// the machine running the tests may be busy compiling.
pub const WAIT: Duration = Duration::from_secs(10);

/// A `duplex` command with quiet logs unless a test asks otherwise.
pub fn duplex() -> Command {
    Command::new(BIN)
}

// ---------------------------------------------------------------------------
// Servers

/// A running `duplex serve`, killed when dropped.
pub struct Server {
    child: Child,
    /// `(service, url)` of every `listening` line, in order.
    pub listening: Vec<(String, String)>,
    stdout: Receiver<String>,
    stderr: Arc<Mutex<String>>,
    /// Collects stderr until the process closes it; joined once the
    /// process has exited, so that `stderr()` then has all of it.
    stderr_reader: Option<thread::JoinHandle<()>>,
}

/// Why a server did not start: its exit status and what it wrote on stderr.
#[derive(Debug)]
pub struct StartFailure {
    pub status: Option<ExitStatus>,
    pub stdout: Vec<String>,
    pub stderr: String,
}

impl Server {
    /// `duplex serve SERVICE URL… EXTRA…`, waiting for one `listening` line
    /// per URL.
    pub fn serve(service: &str, urls: &[&str], extra: &[&str]) -> Server {
        let mut args = vec!["serve", service];
        args.extend_from_slice(urls);
        args.extend_from_slice(extra);
        Server::start(&args, urls.len())
    }

    /// `duplex ARGS…`, waiting for `lines` `listening` lines. Panics with the
    /// server's stderr if it exits first.
    pub fn start(args: &[&str], lines: usize) -> Server {
        let mut cmd = duplex();
        cmd.args(args);
        match Server::try_start_cmd(cmd, lines) {
            Ok(s) => s,
            Err(f) => panic!("duplex {} did not start: {f:?}", args.join(" ")),
        }
    }

    /// Starts `cmd` and waits for `lines` `listening` lines, or for the
    /// process to exit (then returns what it said).
    pub fn try_start_cmd(mut cmd: Command, lines: usize) -> Result<Server, StartFailure> {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        Server::try_adopt(cmd.spawn().expect("spawn duplex"), lines)
    }

    /// A server started by another program (with piped stdout and stderr)
    /// that becomes duplex, as systemd-socket-activate does: waits for
    /// `lines` `listening` lines.
    pub fn adopt(child: Child, lines: usize) -> Server {
        match Server::try_adopt(child, lines) {
            Ok(s) => s,
            Err(f) => panic!("duplex did not start: {f:?}"),
        }
    }

    fn try_adopt(mut child: Child, lines: usize) -> Result<Server, StartFailure> {
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr_pipe = child.stderr.take().expect("stderr is piped");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut r = io::BufReader::new(stdout);
            loop {
                let mut line = String::new();
                match io::BufRead::read_line(&mut r, &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        if tx.send(line.trim_end_matches('\n').to_string()).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        let stderr_reader = thread::spawn(move || {
            let mut r = stderr_pipe;
            let mut buf = [0u8; 4096];
            while let Ok(n) = r.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .expect("stderr lock")
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let mut server = Server {
            child,
            listening: Vec::new(),
            stdout: rx,
            stderr,
            stderr_reader: Some(stderr_reader),
        };
        let deadline = Instant::now() + WAIT;
        let mut other = Vec::new();
        while server.listening.len() < lines {
            let left = deadline.saturating_duration_since(Instant::now());
            match server
                .stdout
                .recv_timeout(left.max(Duration::from_millis(1)))
            {
                Ok(line) => match parse_listening(&line) {
                    Some(l) => server.listening.push(l),
                    None => other.push(line),
                },
                Err(RecvTimeoutError::Disconnected) => {
                    // stdout closed: the process is exiting.
                    let status = server.wait_exit(WAIT);
                    let mut stdout: Vec<String> = server
                        .listening
                        .iter()
                        .map(|(s, u)| format!("listening {s} {u}"))
                        .collect();
                    stdout.extend(other);
                    return Err(StartFailure {
                        status,
                        stdout,
                        stderr: server.stderr(),
                    });
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "no {lines} listening lines within {WAIT:?}; got {:?} and {other:?}; stderr: {}",
                        server.listening,
                        server.stderr()
                    );
                }
            }
        }
        assert!(other.is_empty(), "unexpected lines on stdout: {other:?}");
        Ok(server)
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// The URL of the `i`th listening line.
    pub fn url(&self, i: usize) -> &str {
        &self.listening[i].1
    }

    /// The socket address of the `i`th listener (tcp or udp).
    pub fn addr(&self, i: usize) -> SocketAddr {
        socket_addr(self.url(i))
    }

    /// The path of the `i`th listener (unix).
    pub fn path(&self, i: usize) -> PathBuf {
        let url = self.url(i);
        PathBuf::from(
            url.strip_prefix("unix://")
                .unwrap_or_else(|| panic!("{url} is not unix://")),
        )
    }

    /// Everything the server wrote on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().expect("stderr lock").clone()
    }

    /// The next line the server writes on stdout, if any within `timeout`.
    pub fn next_stdout_line(&self, timeout: Duration) -> Option<String> {
        self.stdout.recv_timeout(timeout).ok()
    }

    /// Sends a signal (`libc::SIGTERM`, `libc::SIGINT`, …).
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) with the pid of our own child process.
        let r = unsafe { libc::kill(self.pid(), sig) };
        assert_eq!(
            r,
            0,
            "kill({}, {sig}) failed: {}",
            self.pid(),
            io::Error::last_os_error()
        );
    }

    /// Waits up to `timeout` for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let status = wait_child(&mut self.child, timeout);
        if status.is_some()
            && let Some(reader) = self.stderr_reader.take()
        {
            // The process is gone, so its stderr ends: read to the end.
            let _ = reader.join();
        }
        status
    }

    /// True while the process runs.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Resident memory of the server in KiB (VmRSS).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("read /proc/PID/status");
        let line = status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .expect("VmRSS line");
        line.split_whitespace()
            .nth(1)
            .and_then(|v| v.parse().ok())
            .expect("VmRSS value")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Parses `listening SERVICE URL`.
pub fn parse_listening(line: &str) -> Option<(String, String)> {
    let mut words = line.split(' ');
    if words.next()? != "listening" {
        return None;
    }
    let service = words.next()?.to_string();
    let url = words.next()?.to_string();
    if words.next().is_some() {
        return None;
    }
    Some((service, url))
}

/// `tcp://127.0.0.1:PORT` or `udp://[::1]:PORT` as a socket address.
pub fn socket_addr(url: &str) -> SocketAddr {
    let hp = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    hp.parse()
        .unwrap_or_else(|e| panic!("{url}: not HOST:PORT with an IP literal: {e}"))
}

/// Waits up to `timeout` for `child` to exit.
pub fn wait_child(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(s)) = child.try_wait() {
            return Some(s);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

// ---------------------------------------------------------------------------
// One-shot commands

/// The result of a command run to completion.
#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Output {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

/// Runs `cmd` with `input` on stdin (then EOF), killing it and failing the
/// test if it takes longer than `timeout`.
pub fn run_with_input(mut cmd: Command, input: &[u8], timeout: Duration) -> Output {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let input = input.to_vec();
    let writer = thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = collect(&mut child);
    let status = wait_child(&mut child, timeout);
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("{cmd:?} did not finish within {timeout:?}");
    };
    let elapsed = start.elapsed();
    let _ = writer.join();
    let (stdout, stderr) = out.finish();
    Output {
        status,
        stdout,
        stderr,
        elapsed,
    }
}

/// Runs `cmd` with no input (stdin is /dev/null).
pub fn run(cmd: Command, timeout: Duration) -> Output {
    run_with_input(cmd, b"", timeout)
}

/// `duplex ARGS…` run to completion.
pub fn run_duplex(args: &[&str], timeout: Duration) -> Output {
    let mut cmd = duplex();
    cmd.args(args);
    run(cmd, timeout)
}

/// Readers of a child's stdout and stderr, running in threads.
pub struct Collected {
    stdout: thread::JoinHandle<Vec<u8>>,
    stderr: thread::JoinHandle<Vec<u8>>,
}

impl Collected {
    pub fn finish(self) -> (Vec<u8>, String) {
        let o = self.stdout.join().expect("stdout reader");
        let e = self.stderr.join().expect("stderr reader");
        (o, String::from_utf8_lossy(&e).into_owned())
    }
}

/// Starts reading the child's piped stdout and stderr to their ends.
pub fn collect(child: &mut Child) -> Collected {
    let mut o = child.stdout.take().expect("stdout is piped");
    let mut e = child.stderr.take().expect("stderr is piped");
    Collected {
        stdout: thread::spawn(move || {
            let mut v = Vec::new();
            let _ = o.read_to_end(&mut v);
            v
        }),
        stderr: thread::spawn(move || {
            let mut v = Vec::new();
            let _ = e.read_to_end(&mut v);
            v
        }),
    }
}

/// A child process (a client) whose stdin stays open until the test closes
/// it, whose stdout is read line by line with a timeout. Killed on drop.
pub struct Interactive {
    pub child: Child,
    pub stdin: Option<ChildStdin>,
    stdout: Receiver<Vec<u8>>,
    pending: Vec<u8>,
    stderr: Arc<Mutex<String>>,
    stderr_reader: Option<thread::JoinHandle<()>>,
}

impl Interactive {
    pub fn spawn(mut cmd: Command) -> Interactive {
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
        let stdin = child.stdin.take();
        let mut out = child.stdout.take().expect("stdout is piped");
        let mut err = child.stderr.take().expect("stderr is piped");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = out.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        let stderr_reader = thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .expect("stderr lock")
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Interactive {
            child,
            stdin,
            stdout: rx,
            pending: Vec::new(),
            stderr,
            stderr_reader: Some(stderr_reader),
        }
    }

    pub fn write(&mut self, data: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        stdin.write_all(data).expect("write to the client's stdin");
        stdin.flush().expect("flush the client's stdin");
    }

    /// Closes the child's stdin (EOF).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// The next line of stdout (without `\n`); panics after `timeout`.
    pub fn read_line(&mut self, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(i) = self.pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=i).collect();
                return String::from_utf8_lossy(&line[..i]).into_owned();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stdout.recv_timeout(left) {
                Ok(chunk) => self.pending.extend_from_slice(&chunk),
                Err(e) => panic!(
                    "no line on stdout within {timeout:?} ({e:?}); have {:?}; stderr: {}",
                    String::from_utf8_lossy(&self.pending),
                    self.stderr()
                ),
            }
        }
    }

    /// The next `n` bytes of stdout; panics after `timeout`.
    pub fn read_bytes(&mut self, n: usize, timeout: Duration) -> Vec<u8> {
        let deadline = Instant::now() + timeout;
        while self.pending.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stdout.recv_timeout(left) {
                Ok(chunk) => self.pending.extend_from_slice(&chunk),
                Err(e) => panic!(
                    "only {:?} of {n} bytes on stdout within {timeout:?} ({e:?}); stderr: {}",
                    String::from_utf8_lossy(&self.pending),
                    self.stderr()
                ),
            }
        }
        self.pending.drain(..n).collect()
    }

    /// Reads stdout until it closes (within `timeout`) and returns the rest.
    pub fn read_to_end(&mut self, timeout: Duration) -> Vec<u8> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stdout.recv_timeout(left) {
                Ok(chunk) => self.pending.extend_from_slice(&chunk),
                Err(RecvTimeoutError::Disconnected) => return std::mem::take(&mut self.pending),
                Err(RecvTimeoutError::Timeout) => panic!(
                    "stdout still open after {timeout:?}; have {:?}; stderr: {}",
                    String::from_utf8_lossy(&self.pending),
                    self.stderr()
                ),
            }
        }
    }

    pub fn wait(&mut self, timeout: Duration) -> Option<ExitStatus> {
        wait_child(&mut self.child, timeout)
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().expect("stderr lock").clone()
    }

    /// Waits up to `timeout` for a line of stderr that contains `marker`
    /// and returns what follows it on that line, trimmed: how a process
    /// says where it listens.
    pub fn stderr_after(&self, marker: &str, timeout: Duration) -> Option<String> {
        let mut found = None;
        eventually(timeout, || {
            found = self
                .stderr()
                .lines()
                .find_map(|l| l.split(marker).nth(1))
                .map(|rest| rest.trim().to_string());
            found.is_some()
        });
        found
    }

    /// All of stderr, once the process has exited: waits for the reader to
    /// reach the end of the pipe, so that nothing written last is missed.
    pub fn stderr_to_end(&mut self) -> String {
        if let Some(reader) = self.stderr_reader.take() {
            let _ = reader.join();
        }
        self.stderr()
    }
}

impl Drop for Interactive {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------
// Stream connections

/// A stream socket the tests can use whatever its transport.
pub trait Stream: Read + Write + Send {
    fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()>;
    fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()>;
    fn shutdown(&self, how: Shutdown) -> io::Result<()>;
    fn try_clone_box(&self) -> io::Result<Box<dyn Stream>>;
}

impl Stream for TcpStream {
    fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, t)
    }
    fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        TcpStream::set_write_timeout(self, t)
    }
    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        TcpStream::shutdown(self, how)
    }
    fn try_clone_box(&self) -> io::Result<Box<dyn Stream>> {
        Ok(Box::new(self.try_clone()?))
    }
}

impl Stream for UnixStream {
    fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        UnixStream::set_read_timeout(self, t)
    }
    fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        UnixStream::set_write_timeout(self, t)
    }
    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        UnixStream::shutdown(self, how)
    }
    fn try_clone_box(&self) -> io::Result<Box<dyn Stream>> {
        Ok(Box::new(self.try_clone()?))
    }
}

/// A client connection with buffered, time-bounded line reading.
pub struct Conn {
    pub s: Box<dyn Stream>,
    buf: Vec<u8>,
}

/// What a bounded read found.
#[derive(Debug, PartialEq, Eq)]
pub enum Read1 {
    Line(String),
    /// The server closed the connection (the bytes before the close, if any,
    /// without a line break).
    Eof(Vec<u8>),
    Timeout,
}

impl Conn {
    pub fn new(s: Box<dyn Stream>) -> Conn {
        s.set_write_timeout(Some(WAIT)).expect("set write timeout");
        Conn { s, buf: Vec::new() }
    }

    pub fn tcp(addr: SocketAddr) -> Conn {
        let s = TcpStream::connect_timeout(&addr, WAIT)
            .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
        Conn::new(Box::new(s))
    }

    pub fn unix(path: &Path) -> Conn {
        let s = UnixStream::connect(path)
            .unwrap_or_else(|e| panic!("connect to {}: {e}", path.display()));
        Conn::new(Box::new(s))
    }

    /// Connects to a `tcp://` or `unix://` URL.
    pub fn to(url: &str) -> Conn {
        if let Some(p) = url.strip_prefix("unix://") {
            Conn::unix(Path::new(p))
        } else {
            assert!(url.starts_with("tcp://"), "not a stream URL: {url}");
            Conn::tcp(socket_addr(url))
        }
    }

    pub fn send(&mut self, data: &[u8]) {
        self.s.write_all(data).expect("send to the server");
    }

    /// Sends `text` followed by `\n`.
    pub fn send_line(&mut self, text: &str) {
        self.send(format!("{text}\n").as_bytes());
    }

    /// Reads one line, or EOF, or times out after `timeout`.
    pub fn try_read_line(&mut self, timeout: Duration) -> Read1 {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=i).collect();
                return Read1::Line(String::from_utf8_lossy(&line[..i]).into_owned());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Read1::Timeout;
            }
            self.s
                .set_read_timeout(Some(left))
                .expect("set read timeout");
            let mut chunk = [0u8; 16 * 1024];
            match self.s.read(&mut chunk) {
                Ok(0) => return Read1::Eof(std::mem::take(&mut self.buf)),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Read1::Timeout;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => panic!("read from the server failed: {e}"),
            }
        }
    }

    /// Reads one line; panics on EOF or after [`WAIT`].
    pub fn read_line(&mut self) -> String {
        match self.try_read_line(WAIT) {
            Read1::Line(l) => l,
            other => panic!("expected a line from the server, got {other:?}"),
        }
    }

    /// Sends a request line and reads one reply line.
    pub fn ask(&mut self, request: &str) -> String {
        self.send_line(request);
        self.read_line()
    }

    /// Asserts that the server closes the connection within `timeout`, with
    /// nothing more sent before the close.
    pub fn expect_eof(&mut self, timeout: Duration) {
        match self.try_read_line(timeout) {
            Read1::Eof(rest) if rest.is_empty() => {}
            other => panic!("expected the server to close the connection, got {other:?}"),
        }
    }

    /// Asserts that nothing arrives (and the connection stays open) for `d`.
    pub fn expect_silence(&mut self, d: Duration) {
        match self.try_read_line(d) {
            Read1::Timeout => {}
            other => panic!("expected silence for {d:?}, got {other:?}"),
        }
    }

    /// Reads exactly `n` bytes within `timeout`.
    pub fn read_exact_within(&mut self, n: usize, timeout: Duration) -> Vec<u8> {
        let deadline = Instant::now() + timeout;
        let mut chunk = vec![0u8; 64 * 1024];
        while self.buf.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "only {} of {n} bytes within {timeout:?}",
                self.buf.len()
            );
            self.s
                .set_read_timeout(Some(left))
                .expect("set read timeout");
            match self.s.read(&mut chunk) {
                Ok(0) => panic!("EOF after {} of {n} bytes", self.buf.len()),
                Ok(k) => self.buf.extend_from_slice(&chunk[..k]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => panic!("read failed after {} of {n} bytes: {e}", self.buf.len()),
            }
        }
        self.buf.drain(..n).collect()
    }

    /// Half-closes: no more data from this side.
    pub fn shutdown_write(&self) {
        self.s.shutdown(Shutdown::Write).expect("shutdown(write)");
    }
}

// ---------------------------------------------------------------------------
// UDP

/// A UDP client socket connected to one server address.
pub struct Udp {
    pub socket: UdpSocket,
}

impl Udp {
    pub fn to(addr: SocketAddr) -> Udp {
        let local: SocketAddr = if addr.is_ipv4() {
            "127.0.0.1:0"
        } else {
            "[::1]:0"
        }
        .parse()
        .expect("addr");
        let socket = UdpSocket::bind(local).expect("bind a UDP client socket");
        socket.connect(addr).expect("connect the UDP socket");
        Udp { socket }
    }

    pub fn send(&self, data: &[u8]) {
        self.socket.send(data).expect("send a datagram");
    }

    /// The next datagram, or `None` after `timeout`.
    pub fn try_recv(&self, timeout: Duration) -> Option<Vec<u8>> {
        self.socket
            .set_read_timeout(Some(timeout))
            .expect("set read timeout");
        let mut buf = vec![0u8; 65_536];
        match self.socket.recv(&mut buf) {
            Ok(n) => Some(buf[..n].to_vec()),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                None
            }
            Err(e) => panic!("UDP receive failed: {e}"),
        }
    }

    /// The next datagram; panics after [`WAIT`].
    pub fn recv(&self) -> Vec<u8> {
        self.try_recv(WAIT).expect("a datagram from the server")
    }

    /// Sends a datagram and returns the reply as text.
    pub fn ask(&self, data: &str) -> String {
        self.send(data.as_bytes());
        String::from_utf8(self.recv()).expect("UTF-8 reply")
    }
}

/// Writes `chunk` again and again until `cap` bytes are out or a write
/// blocks past the writer's timeout (the peer stopped reading:
/// backpressure): returns the bytes accepted and whether writing blocked.
pub fn flood_writer(w: &mut dyn Write, chunk: &[u8], cap: u64) -> (u64, bool) {
    let mut sent = 0u64;
    while sent < cap {
        match w.write(chunk) {
            Ok(n) => sent += n as u64,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return (sent, true);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => panic!("write failed after {sent} bytes: {e}"),
        }
    }
    (sent, false)
}

// ---------------------------------------------------------------------------
// Misc

/// A fresh temporary directory (removed when dropped).
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("create a temporary directory")
}

/// `unix://DIR/NAME` for a socket in `dir`.
pub fn unix_url(dir: &Path, name: &str) -> String {
    format!("unix://{}", dir.join(name).display())
}

/// A TCP port on 127.0.0.1 that nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("local addr").port()
}

/// Polls `cond` every 10 ms until it holds or `timeout` passes.
pub fn eventually(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// The project's Python (`.venv`, made by `scripts/test.sh`) with the
/// `websockets` library, or a failure saying how to get it.
pub fn venv_python() -> Command {
    let py = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    let ok = Command::new(&py)
        .args(["-c", "import ssl, websockets"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "Python with ssl and websockets is needed in .venv: run scripts/test.sh, or \
         python3 -m venv .venv && .venv/bin/pip install websockets kosoku"
    );
    Command::new(py)
}

/// [`venv_python`] running `tests/py/SCRIPT`.
pub fn py_script(script: &str) -> Command {
    let mut cmd = venv_python();
    cmd.arg(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/py")
            .join(script),
    );
    cmd
}

/// Lines of `stderr` that are not empty.
pub fn nonempty_lines(s: &str) -> Vec<&str> {
    s.lines().filter(|l| !l.trim().is_empty()).collect()
}
