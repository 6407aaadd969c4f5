//! The hostile-client suite: what a remote peer can try against duplex, on
//! loopback, each attack bounded in time and count. Every test checks the
//! documented answer to the attack, that the server process is still alive,
//! and that a fresh, well-behaved client is served afterwards.
//!
//! The bounds measured (server RSS under each attack, latency of a normal
//! client during slowloris) are printed as `measured:` lines; see them with
//!
//! ```sh
//! cargo test --test hostile -- --nocapture 2>&1 | grep measured:
//! ```
//!
//! SECURITY.md records the numbers observed.

mod common;
mod tlsutil;
mod wsutil;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::os::unix::net::UnixStream;
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use tlsutil::*;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use wsutil::*;

const MB: u64 = 1 << 20;
/// Most a server's resident memory may grow under any one attack.
const RSS_GROWTH_LIMIT_KIB: u64 = 64 * 1024;
/// A normal client's median round trip during slowloris must stay under this
/// (a behaviour check with a generous bound: the machine may be busy).
const NORMAL_MEDIAN_LIMIT: Duration = Duration::from_millis(200);

// ---------------------------------------------------------------------------
// Helpers

/// A small deterministic generator of hostile bytes (xorshift64*).
struct Garbage(u64);

impl Garbage {
    fn new(seed: u64) -> Garbage {
        Garbage(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| (self.next() >> 56) as u8).collect()
    }
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// The URL of the server's listener with this scheme (WebSocket listeners
/// are announced after the others, whatever the order on the command line).
fn url_for(s: &Server, scheme: &str) -> String {
    let prefix = format!("{scheme}://");
    s.listening
        .iter()
        .map(|(_, u)| u)
        .find(|u| u.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no {scheme}:// listener in {:?}", s.listening))
        .clone()
}

/// The address of the server's `tls://` listener.
fn tls_addr(s: &Server) -> SocketAddr {
    url_for(s, "tls")
        .trim_start_matches("tls://")
        .parse()
        .expect("a tls:// address")
}

/// Asserts the server process is alive.
fn assert_alive(s: &mut Server) {
    assert!(s.running(), "the server died; stderr: {}", s.stderr());
}

/// Sends RST instead of FIN when the socket is dropped.
fn reset(s: TcpStream) {
    socket2::SockRef::from(&s)
        .set_linger(Some(Duration::ZERO))
        .expect("SO_LINGER 0");
    drop(s);
}

/// Open client sockets that trickle bytes and notice when the server closes
/// them.
struct Tricklers {
    socks: Vec<TcpStream>,
    /// When each socket was seen closed by the server.
    closed: Vec<Option<Instant>>,
}

impl Tricklers {
    fn open(addr: SocketAddr, n: usize) -> Tricklers {
        let socks: Vec<TcpStream> = (0..n)
            .map(|i| {
                let s = TcpStream::connect_timeout(&addr, WAIT)
                    .unwrap_or_else(|e| panic!("trickler {i}: connect to {addr}: {e}"));
                s.set_nonblocking(true).expect("nonblocking");
                s
            })
            .collect();
        let closed = vec![None; n];
        Tricklers { socks, closed }
    }

    /// Writes `byte` to every socket still open.
    fn send(&mut self, byte: u8) {
        for (s, closed) in self.socks.iter_mut().zip(&mut self.closed) {
            if closed.is_none() && s.write(&[byte]).is_err() {
                *closed = Some(Instant::now());
            }
        }
    }

    /// Reads (and drops) whatever arrived; records the sockets the server
    /// has closed. Returns how many are closed.
    fn poll(&mut self) -> usize {
        let mut buf = [0u8; 4096];
        for (s, closed) in self.socks.iter_mut().zip(&mut self.closed) {
            if closed.is_some() {
                continue;
            }
            loop {
                match s.read(&mut buf) {
                    Ok(0) => {
                        *closed = Some(Instant::now());
                        break;
                    }
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => {
                        *closed = Some(Instant::now());
                        break;
                    }
                }
            }
        }
        self.open_count_complement()
    }

    fn open_count_complement(&self) -> usize {
        self.closed.iter().filter(|c| c.is_some()).count()
    }

    /// Trickles one byte of `text` a second (cycling) from `start` for
    /// `trickle`, then keeps polling silently until every socket is closed
    /// or `deadline` passes. Returns the sockets still open when trickling
    /// stopped and when polling ended.
    fn run(&mut self, text: &[u8], trickle: Duration, deadline: Instant) -> (usize, usize) {
        let start = Instant::now();
        let mut sent = 0;
        while start.elapsed() < trickle && Instant::now() < deadline {
            if start.elapsed() >= Duration::from_secs(sent as u64) {
                self.send(text[sent % text.len()]);
                sent += 1;
            }
            self.poll();
            thread::sleep(Duration::from_millis(50));
        }
        let open_at_stop = self.socks.len() - self.poll();
        while self.poll() < self.socks.len() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(50));
        }
        (open_at_stop, self.socks.len() - self.poll())
    }
}

/// One fresh client per transport asks and is answered: echo on streams.
fn echo_round_trip(url: &str, ca: Option<&CertFiles>) {
    let mut c = if let Some(rest) = url.strip_prefix("tls://") {
        let addr: SocketAddr = rest.parse().expect("tls address");
        TlsStream::connect(addr, &ca.expect("a CA for tls://").cert).conn()
    } else if url.starts_with("ws://") {
        let mut w = ws(url);
        assert_eq!(ask(&mut w, "fresh client"), "fresh client", "{url}");
        return;
    } else if let Some(rest) = url.strip_prefix("udp://") {
        let u = Udp::to(rest.parse().expect("udp address"));
        assert_eq!(u.ask("fresh client"), "fresh client", "{url}");
        return;
    } else {
        Conn::to(url)
    };
    assert_eq!(c.ask("fresh client"), "fresh client", "{url}");
}

// ---------------------------------------------------------------------------
// Slowloris

#[test]
fn slowloris_on_a_line_service_keeps_normal_clients_fast_and_idle_timeout_closes_the_tricklers() {
    const N: usize = 300;
    let mut s = Server::serve("random", &["tcp://127.0.0.1:0"], &["--idle-timeout", "2s"]);
    let addr = s.addr(0);
    let rss_before = s.rss_kib();
    let attack_start = Instant::now();
    let mut tricklers = Tricklers::open(addr, N);
    let trickle = Duration::from_secs(5);
    let attack = thread::spawn(move || {
        // A request line that never ends: one byte a second for 5 s, then
        // nothing at all.
        let result = tricklers.run(b"99999999 1 ", trickle, Instant::now() + trickle * 3);
        (result, tricklers)
    });
    // Meanwhile, normal clients (each a fresh connection) are served fast.
    thread::sleep(Duration::from_millis(500));
    let mut samples = Vec::new();
    let measuring = Instant::now();
    while measuring.elapsed() < Duration::from_secs(4) && samples.len() < 40 {
        let start = Instant::now();
        let mut c = Conn::tcp(addr);
        assert_eq!(c.ask("1 7 7"), "7");
        samples.push(start.elapsed());
        thread::sleep(Duration::from_millis(100));
    }
    let rss_during = s.rss_kib();
    let ((open_at_stop, open_at_end), tricklers) = attack.join().expect("tricklers");
    let worst = *samples.iter().max().expect("samples");
    let p50 = median(&mut samples);
    let last_close = tricklers.closed.iter().flatten().max().copied();
    println!(
        "measured: slowloris line service: {N} tricklers, normal client connect+round trip p50 {:.2} ms, max {:.2} ms over {} requests; RSS {:.1} MiB -> {:.1} MiB",
        ms(p50),
        ms(worst),
        samples.len(),
        mib(rss_before),
        mib(rss_during)
    );
    assert!(
        p50 < NORMAL_MEDIAN_LIMIT,
        "normal client median {p50:?} during slowloris"
    );
    // A line that never completes is not activity: --idle-timeout closes
    // every trickler while it is still sending a byte a second.
    assert_eq!(
        open_at_stop, 0,
        "{open_at_stop} tricklers still open after 5 s of an unfinished line (idle timeout 2 s)"
    );
    assert_eq!(
        open_at_end, 0,
        "{open_at_end} tricklers still open at the end"
    );
    let close_delay = last_close
        .map(|t| t.duration_since(attack_start))
        .unwrap_or_default();
    println!(
        "measured: slowloris line service: last trickler closed {:.1} s after the attack began (idle timeout 2 s, trickling for 5 s)",
        close_delay.as_secs_f64()
    );
    assert!(
        close_delay < trickle,
        "the last trickler was closed only {close_delay:?} after the attack began"
    );
    assert!(
        s.rss_kib().saturating_sub(rss_before) < RSS_GROWTH_LIMIT_KIB,
        "RSS grew by more than 64 MiB"
    );
    assert_alive(&mut s);
    assert_eq!(Conn::tcp(addr).ask("1 8 8"), "8");
}

#[test]
fn slowloris_on_a_websocket_listener_keeps_normal_clients_fast_and_the_header_timeout_closes_tricklers()
 {
    const N: usize = 300;
    // The HTTP header timeout is min(--idle-timeout, 30 s): 4 s here.
    let mut s = Server::serve(
        "echo",
        &["ws://127.0.0.1:0/echo"],
        &["--idle-timeout", "4s"],
    );
    let url = s.url(0).to_string();
    let addr = ws_addr(&url);
    let rss_before = s.rss_kib();
    let attack_start = Instant::now();
    let mut tricklers = Tricklers::open(addr, N);
    let attack = thread::spawn(move || {
        // Partial HTTP headers, one byte a second, for as long as the server
        // lets them (at most 12 s): they never stall, so only the header
        // timeout can end them.
        let head = b"GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nX-Slow: ";
        let long = Duration::from_secs(12);
        let result = tricklers.run(head, long, Instant::now() + long);
        (result, tricklers)
    });
    thread::sleep(Duration::from_millis(300));
    let mut samples = Vec::new();
    let measuring = Instant::now();
    while measuring.elapsed() < Duration::from_millis(3000) && samples.len() < 30 {
        let start = Instant::now();
        let mut w = ws(&url);
        assert_eq!(ask(&mut w, "ping?"), "ping?");
        samples.push(start.elapsed());
        let _ = w.close(None);
        thread::sleep(Duration::from_millis(100));
    }
    let rss_during = s.rss_kib();
    let ((_, open_at_end), tricklers) = attack.join().expect("tricklers");
    let worst = *samples.iter().max().expect("samples");
    let p50 = median(&mut samples);
    let first_close = tricklers.closed.iter().flatten().min().copied();
    let last_close = tricklers.closed.iter().flatten().max().copied();
    println!(
        "measured: slowloris WebSocket listener: {N} tricklers, normal client handshake+round trip p50 {:.2} ms, max {:.2} ms over {} requests; RSS {:.1} MiB -> {:.1} MiB",
        ms(p50),
        ms(worst),
        samples.len(),
        mib(rss_before),
        mib(rss_during)
    );
    assert!(
        p50 < NORMAL_MEDIAN_LIMIT,
        "normal client median {p50:?} during slowloris"
    );
    assert_eq!(
        open_at_end, 0,
        "{open_at_end} tricklers still open after 12 s of partial headers"
    );
    let (first, last) = (
        first_close
            .map(|t| t.duration_since(attack_start))
            .unwrap_or_default(),
        last_close
            .map(|t| t.duration_since(attack_start))
            .unwrap_or_default(),
    );
    println!(
        "measured: slowloris WebSocket listener: tricklers closed between {:.1} s and {:.1} s (header timeout 4 s)",
        first.as_secs_f64(),
        last.as_secs_f64()
    );
    assert!(
        first >= Duration::from_millis(3500),
        "tricklers closed after {first:?}, before the 4 s header timeout"
    );
    assert!(
        s.rss_kib().saturating_sub(rss_before) < RSS_GROWTH_LIMIT_KIB,
        "RSS grew by more than 64 MiB"
    );
    assert_alive(&mut s);
    assert_eq!(ask(&mut ws(&url), "after"), "after");
}

// ---------------------------------------------------------------------------
// Clients that send and never read

#[test]
fn echo_clients_that_send_hundreds_of_mb_and_never_read_keep_server_memory_bounded() {
    let dir = tempdir();
    let cert = make_cert(&dir.path().join("tls"));
    let unix = unix_url(dir.path(), "echo.sock");
    let tls = tls_args(&cert);
    let mut s = Server::serve(
        "echo",
        &[
            "tcp://127.0.0.1:0",
            &unix,
            "ws://127.0.0.1:0/echo",
            "tls://127.0.0.1:0",
        ],
        &tls.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let urls: Vec<String> = ["tcp", "unix", "ws", "tls"]
        .iter()
        .map(|scheme| url_for(&s, scheme))
        .collect();
    for u in &urls {
        echo_round_trip(u, Some(&cert));
    }
    let rss_before = s.rss_kib();
    // Four hogs per transport, each trying to push 256 MiB (4 GiB in all)
    // while reading nothing.
    const CAP: u64 = 256 * MB;
    const HOGS: usize = 4;
    let chunk = vec![b'x'; 64 * 1024];
    let ws_chunk = client_frame(OP_BINARY, &chunk);
    let mut hogs = Vec::new();
    for (t, url) in urls.iter().enumerate() {
        for _ in 0..HOGS {
            let (url, chunk, ws_chunk, ca) = (
                url.clone(),
                chunk.clone(),
                ws_chunk.clone(),
                cert.cert.clone(),
            );
            let path = std::path::PathBuf::from(urls[1].trim_start_matches("unix://"));
            hogs.push(thread::spawn(move || {
                let block = Some(Duration::from_secs(2));
                let mut w: Box<dyn Write + Send> = match t {
                    0 => {
                        let c = TcpStream::connect(socket_addr(&url)).expect("connect");
                        c.set_write_timeout(block).expect("timeout");
                        Box::new(c)
                    }
                    1 => {
                        let c = UnixStream::connect(&path).expect("connect");
                        c.set_write_timeout(block).expect("timeout");
                        Box::new(c)
                    }
                    2 => {
                        let c = raw_ws(ws_addr(&url), "/echo");
                        c.set_write_timeout(block).expect("timeout");
                        Box::new(c)
                    }
                    _ => {
                        let addr: SocketAddr =
                            url.trim_start_matches("tls://").parse().expect("addr");
                        let c = TlsStream::connect(addr, &ca).write_only();
                        c.sock.set_write_timeout(block).expect("timeout");
                        Box::new(c)
                    }
                };
                let data = if t == 2 { &ws_chunk } else { &chunk };
                let (sent, blocked) = flood_writer(w.as_mut(), data, CAP);
                (url, sent, blocked, w)
            }));
        }
    }
    let results: Vec<_> = hogs.into_iter().map(|h| h.join().expect("hog")).collect();
    // Every hog is still connected and still not reading.
    let rss_during = s.rss_kib();
    let grown = rss_during.saturating_sub(rss_before);
    let mut worst = 0;
    for (url, sent, blocked, _) in &results {
        assert!(
            *blocked,
            "{url}: the server took {} MiB from a client that reads nothing",
            sent / MB
        );
        worst = worst.max(*sent);
    }
    println!(
        "measured: echo never-reading clients: {} hogs tried {} MiB each, the most one got accepted was {:.1} MiB; RSS {:.1} MiB -> {:.1} MiB (+{:.1} MiB)",
        results.len(),
        CAP / MB,
        worst as f64 / MB as f64,
        mib(rss_before),
        mib(rss_during),
        mib(grown)
    );
    assert!(
        grown < RSS_GROWTH_LIMIT_KIB,
        "server RSS grew by {grown} KiB under never-reading clients"
    );
    // The others are served while the hogs hang on.
    for u in &urls {
        echo_round_trip(u, Some(&cert));
    }
    assert_alive(&mut s);
    drop(results);
}

// ---------------------------------------------------------------------------
// Connection flood

#[test]
fn connection_flood_past_max_connections_is_refused_clearly_and_service_resumes() {
    const LIMIT: usize = 50;
    const FLOOD: usize = 400;
    let mut s = Server::serve(
        "random",
        &["tcp://127.0.0.1:0", "ws://127.0.0.1:0/random"],
        &["--max-connections", "50", "--idle-timeout", "30s"],
    );
    let tcp_addr = s.addr(0);
    let ws_url = url_for(&s, "ws");
    let rss_before = s.rss_kib();
    // Fill every slot: half over TCP, half over WebSocket.
    let mut holders: Vec<Conn> = (0..LIMIT / 2)
        .map(|_| {
            let mut c = Conn::tcp(tcp_addr);
            assert_eq!(c.ask("1 3 3"), "3");
            c
        })
        .collect();
    let mut ws_holders: Vec<Ws> = (0..LIMIT - LIMIT / 2)
        .map(|_| {
            let mut w = ws(&ws_url);
            assert_eq!(ask(&mut w, "1 4 4"), "4");
            w
        })
        .collect();
    // The flood: FLOOD stream clients and FLOOD upgrades from four threads,
    // each one kept open by its client until the end.
    let start = Instant::now();
    let floods: Vec<_> = (0..4)
        .map(|k| {
            let ws_url = ws_url.clone();
            thread::spawn(move || {
                let mut kept_tcp = Vec::new();
                let mut kept_ws = Vec::new();
                let mut slowest = Duration::ZERO;
                for _ in 0..FLOOD / 4 {
                    let t = Instant::now();
                    let mut c = Conn::tcp(tcp_addr);
                    match c.try_read_line(WAIT) {
                        Read1::Line(l) => assert!(
                            l.starts_with("ERR server busy") && l.contains("--max-connections"),
                            "flood client {k}: got {l:?}"
                        ),
                        other => {
                            panic!("flood client {k}: expected ERR server busy, got {other:?}")
                        }
                    }
                    c.expect_eof(Duration::from_secs(2));
                    slowest = slowest.max(t.elapsed());
                    kept_tcp.push(c);
                    let t = Instant::now();
                    match try_ws(&ws_url, &[]) {
                        Err(WsError::Http(r)) => assert_eq!(r.status(), 503),
                        Err(e) => panic!("upgrade over the limit: expected 503, got {e}"),
                        Ok(_) => panic!("an upgrade over --max-connections was accepted"),
                    }
                    slowest = slowest.max(t.elapsed());
                    // Plain TCP connections that say nothing are kept open
                    // too (they hold HTTP slots, never session slots).
                    kept_ws.push(TcpStream::connect(ws_addr(&ws_url)).expect("connect"));
                }
                (slowest, kept_tcp, kept_ws)
            })
        })
        .collect();
    let results: Vec<_> = floods
        .into_iter()
        .map(|f| f.join().expect("flood"))
        .collect();
    let flood_time = start.elapsed();
    let slowest = results.iter().map(|r| r.0).max().unwrap_or_default();
    let rss_during = s.rss_kib();
    println!(
        "measured: connection flood: {FLOOD} stream clients + {FLOOD} upgrades + {FLOOD} silent HTTP connections past --max-connections {LIMIT} in {:.2} s, slowest refusal {:.1} ms; RSS {:.1} MiB -> {:.1} MiB",
        flood_time.as_secs_f64(),
        ms(slowest),
        mib(rss_before),
        mib(rss_during)
    );
    assert!(
        rss_during.saturating_sub(rss_before) < RSS_GROWTH_LIMIT_KIB,
        "RSS grew by more than 64 MiB"
    );
    assert_alive(&mut s);
    // The sessions that were admitted are unharmed.
    assert_eq!(holders[0].ask("1 5 5"), "5");
    assert_eq!(ask(&mut ws_holders[0], "1 6 6"), "6");
    // The flood ends: service resumes for everybody.
    drop(results);
    holders.clear();
    for mut w in ws_holders.drain(..) {
        let _ = w.close(None);
        let _ = next_within(&mut w, Duration::from_secs(1));
    }
    let resumed = eventually(WAIT, || {
        let mut c = Conn::tcp(tcp_addr);
        c.s.write_all(b"1 9 9\n").is_ok() && c.try_read_line(WAIT) == Read1::Line("9".to_string())
    });
    assert!(resumed, "stream service did not resume after the flood");
    let fresh: Vec<Conn> = (0..LIMIT - 1)
        .map(|_| {
            let mut c = Conn::tcp(tcp_addr);
            assert_eq!(c.ask("2 2"), "2", "slots were not given back");
            c
        })
        .collect();
    drop(fresh);
    assert!(
        eventually(WAIT, || try_ws(&ws_url, &[]).is_ok()),
        "WebSocket service did not resume after the flood"
    );
    assert_alive(&mut s);
}

// ---------------------------------------------------------------------------
// Limits and malformed input

#[test]
fn over_long_lines_get_one_err_on_every_stream_transport_and_the_session_goes_on() {
    let dir = tempdir();
    let cert = make_cert(&dir.path().join("tls"));
    let unix = unix_url(dir.path(), "r.sock");
    let tls = tls_args(&cert);
    let mut extra: Vec<&str> = tls.iter().map(String::as_str).collect();
    extra.extend(["--max-line", "64"]);
    let mut s = Server::serve(
        "random",
        &["tcp://127.0.0.1:0", &unix, "tls://127.0.0.1:0"],
        &extra,
    );
    let tls_addr = tls_addr(&s);
    let conns = [
        Conn::tcp(s.addr(0)),
        Conn::unix(&s.path(1)),
        TlsStream::connect(tls_addr, &cert.cert).conn(),
    ];
    for (i, mut c) in conns.into_iter().enumerate() {
        // 1 MiB on one line, in 64 KiB writes, then a good request.
        let piece = "1 ".repeat(32 * 1024);
        for _ in 0..16 {
            c.send(piece.as_bytes());
        }
        c.send(b"\n1 5 5\n");
        let err = c.read_line();
        assert!(
            err.starts_with("ERR ") && err.contains("--max-line"),
            "transport {i}: {err}"
        );
        assert_eq!(c.read_line(), "5", "transport {i}: exactly one ERR");
        c.expect_silence(Duration::from_millis(100));
    }
    assert_alive(&mut s);
}

#[test]
fn over_size_websocket_message_in_small_frames_closes_1009() {
    let mut s = Server::serve(
        "echo",
        &["ws://127.0.0.1:0/echo"],
        &["--max-message", "4096"],
    );
    let addr = ws_addr(s.url(0));
    let mut c = raw_ws(addr, "/echo");
    // Five fragments of 1000 bytes: each frame is small, the message is not.
    let part = vec![b'a'; 1000];
    c.write_all(&frame(OP_TEXT, &part, Some([1, 2, 3, 4])))
        .expect("first fragment");
    for _ in 0..4 {
        c.write_all(&frame(0x00, &part, Some([1, 2, 3, 4])))
            .expect("next fragment");
    }
    let code = read_close_code(&mut c);
    assert_eq!(code, 1009);
    assert_alive(&mut s);
    assert_eq!(ask(&mut ws(s.url(0)), "small"), "small");
}

#[test]
fn over_size_single_websocket_frame_closes_1009_before_its_payload_arrives() {
    let mut s = Server::serve(
        "echo",
        &["ws://127.0.0.1:0/echo"],
        &["--max-message", "4096"],
    );
    let addr = ws_addr(s.url(0));
    for len in [4097u64, 1 << 20, 1 << 40] {
        let mut c = raw_ws(addr, "/echo");
        // The header announces `len` bytes; only 16 follow.
        let mut head = vec![0x80 | OP_BINARY];
        if len <= 0xffff {
            head.push(0x80 | 126);
            head.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            head.push(0x80 | 127);
            head.extend_from_slice(&len.to_be_bytes());
        }
        head.extend_from_slice(&[9, 9, 9, 9]);
        head.extend_from_slice(&[0u8; 16]);
        c.write_all(&head).expect("send the frame header");
        let start = Instant::now();
        assert_eq!(read_close_code(&mut c), 1009, "frame of {len} bytes");
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "waited for the payload"
        );
    }
    assert_alive(&mut s);
    assert_eq!(ask(&mut ws(s.url(0)), "small"), "small");
}

#[test]
fn invalid_utf8_text_closes_1007_in_one_frame_and_across_fragments() {
    let mut s = Server::serve("counter", &["ws://127.0.0.1:0/c"], &[]);
    let addr = ws_addr(s.url(0));
    let mut one = raw_ws(addr, "/c");
    one.write_all(&client_frame(OP_TEXT, b"ok \xff\xfe"))
        .expect("send");
    assert_eq!(read_close_code(&mut one), 1007);
    // "é" is C3 A9: split across two fragments, then followed by a bad byte.
    let mut split = raw_ws(addr, "/c");
    split
        .write_all(&frame(OP_TEXT, b"caf\xc3", Some([5, 6, 7, 8])))
        .expect("send");
    split
        .write_all(&frame(0x80, b"\xa9\xc0", Some([5, 6, 7, 8])))
        .expect("send");
    assert_eq!(read_close_code(&mut split), 1007);
    assert_alive(&mut s);
    let n: u64 = ask(&mut ws(s.url(0)), "").parse().expect("a count");
    assert!(n >= 3, "{n}");
}

/// Garbage for a stream: random bytes whose lines are all under 8 KiB,
/// ending with a line break.
fn stream_garbage(g: &mut Garbage, n: usize) -> Vec<u8> {
    let mut data = g.bytes(n);
    for i in (0..n).step_by(2048) {
        data[i] = b'\n';
    }
    data.push(b'\n');
    data
}

/// Checks one reply line of a line service to garbage.
fn check_reply(service: &str, line: &str) {
    let ok = match service {
        "random" => line.starts_with("ERR ") || line.parse::<i64>().is_ok(),
        "counter" => line.parse::<u64>().is_ok(),
        _ => !line.is_empty() && !line.starts_with("ERR"),
    };
    assert!(ok, "{service} answered garbage with {line:?}");
}

/// Sends garbage over a stream connection and checks the documented answer:
/// echo returns every byte; a line service answers every line.
fn garbage_over_stream(service: &str, mut c: Conn, g: &mut Garbage) {
    let data = stream_garbage(g, 32 * 1024);
    if service == "daytime" {
        check_reply(service, &c.read_line());
    }
    if service == "echo" {
        c.send(&data);
        assert_eq!(c.read_exact_within(data.len(), WAIT), data);
        return;
    }
    // Lines may hold `STOP` only if the generator is very unlucky; the seed
    // is fixed, so this is checked once and for all.
    assert!(
        !data
            .split(|&b| b == b'\n')
            .any(|l| l.trim_ascii() == b"STOP")
    );
    c.send(&data);
    c.send(b"1 424242 424242\n");
    let lines = data.iter().filter(|&&b| b == b'\n').count();
    let mut replies = 0;
    loop {
        let line = c.read_line();
        if line == "424242" && service == "random" {
            break;
        }
        check_reply(service, &line);
        replies += 1;
        if service != "random" && replies == lines + 1 {
            break;
        }
        assert!(replies <= 100 * lines, "{service}: too many replies");
    }
    if service == "random" {
        assert!(
            replies >= lines,
            "{service}: {replies} replies to {lines} lines"
        );
    }
    c.expect_silence(Duration::from_millis(50));
}

fn garbage_over_udp(service: &str, addr: SocketAddr, g: &mut Garbage) {
    let u = Udp::to(addr);
    for _ in 0..100 {
        let n = 1 + g.below(2000);
        let d = g.bytes(n);
        u.send(&d);
        let reply = u.recv();
        if service == "echo" {
            assert_eq!(reply, d);
        } else {
            let text = String::from_utf8(reply).expect("UTF-8 reply");
            check_reply(service, text.trim_end_matches('\n'));
        }
    }
    // Anything else queued (a garbage datagram that happened to be a count)
    // is drained before the next check.
    while u.try_recv(Duration::from_millis(50)).is_some() {}
}

fn garbage_over_websocket(service: &str, url: &str, g: &mut Garbage) {
    let mut w = ws(url);
    if service == "daytime" {
        check_reply(service, &recv_text(&mut w));
    }
    for i in 0..50 {
        let n = 1 + g.below(4096);
        let d = g.bytes(n);
        w.send(Message::binary(d.clone())).expect("send");
        match recv(&mut w) {
            Message::Binary(b) if service == "echo" => assert_eq!(b.as_ref(), d.as_slice()),
            Message::Text(t) if service != "echo" => check_reply(service, t.as_str()),
            other => panic!("{service}: message {i}: unexpected {other:?}"),
        }
    }
    let _ = w.close(None);
    // Raw garbage in place of frames: a protocol error (or a size or UTF-8
    // error, or the idle timeout for a frame that announces more bytes than
    // follow) closes the session.
    for _ in 0..10 {
        let mut c = raw_ws(ws_addr(url), &url[url.rfind('/').unwrap_or(0)..]);
        if service == "daytime" {
            assert!(read_frame(&mut c).is_some(), "daytime greeting");
        }
        let _ = c.write_all(&g.bytes(4096));
        loop {
            match read_frame(&mut c) {
                Some((first, payload)) if first & 0x0f == OP_CLOSE && payload.len() >= 2 => {
                    let code = u16::from_be_bytes([payload[0], payload[1]]);
                    assert!(
                        [1000, 1002, 1007, 1009].contains(&code),
                        "{service}: close {code} for garbage frames"
                    );
                    break;
                }
                Some(_) => {}
                None => break,
            }
        }
    }
}

#[test]
fn random_binary_garbage_to_every_service_on_every_transport_gets_the_documented_answers() {
    let dir = tempdir();
    let cert = make_cert(&dir.path().join("tls"));
    let tls = tls_args(&cert);
    let mut extra: Vec<&str> = tls.iter().map(String::as_str).collect();
    extra.extend(["--idle-timeout", "3s"]);
    let mut g = Garbage::new(0x5eed);
    for service in ["echo", "daytime", "random", "counter"] {
        let unix = unix_url(dir.path(), &format!("{service}.sock"));
        let mut s = Server::serve(
            service,
            &[
                "tcp://127.0.0.1:0",
                &unix,
                "udp://127.0.0.1:0",
                "ws://127.0.0.1:0/svc",
                "tls://127.0.0.1:0",
            ],
            &extra,
        );
        let tls_addr = tls_addr(&s);
        garbage_over_stream(service, Conn::tcp(s.addr(0)), &mut g);
        garbage_over_stream(service, Conn::unix(&s.path(1)), &mut g);
        garbage_over_stream(
            service,
            TlsStream::connect(tls_addr, &cert.cert).conn(),
            &mut g,
        );
        let udp_addr = socket_addr(&url_for(&s, "udp"));
        garbage_over_udp(service, udp_addr, &mut g);
        let ws_url = url_for(&s, "ws");
        garbage_over_websocket(service, &ws_url, &mut g);
        // Garbage before any protocol: on the HTTP port a 4xx or a close, on
        // the TLS port a failed handshake; never a hang past the timeouts.
        for (addr, what) in [(ws_addr(&ws_url), "http"), (tls_addr, "tls")] {
            for _ in 0..10 {
                let mut c = TcpStream::connect(addr).expect("connect");
                c.set_read_timeout(Some(WAIT)).expect("timeout");
                let n = 1 + g.below(8192);
                let _ = c.write_all(&g.bytes(n));
                let mut answer = Vec::new();
                let start = Instant::now();
                match c.read_to_end(&mut answer) {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
                    Err(e) => panic!("{service} {what}: no close within {WAIT:?}: {e}"),
                }
                assert!(start.elapsed() < WAIT);
                if what == "http" && !answer.is_empty() {
                    let head = String::from_utf8_lossy(&answer);
                    assert!(head.starts_with("HTTP/1.1 4"), "{service}: {head:?}");
                }
            }
        }
        assert_alive(&mut s);
        // Fresh clients on every transport are served.
        let expect_live = |mut c: Conn| {
            if service == "daytime" {
                c.read_line();
            }
            check_or_echo(service, c.ask("1 2 2"));
        };
        expect_live(Conn::tcp(s.addr(0)));
        expect_live(Conn::unix(&s.path(1)));
        expect_live(TlsStream::connect(tls_addr, &cert.cert).conn());
        check_or_echo(
            service,
            Udp::to(udp_addr).ask("1 2 2").trim_end().to_string(),
        );
        let mut w = ws(&ws_url);
        if service == "daytime" {
            recv_text(&mut w);
        }
        check_or_echo(service, ask(&mut w, "1 2 2"));
    }
}

fn check_or_echo(service: &str, reply: String) {
    match service {
        "echo" => assert_eq!(reply, "1 2 2"),
        "random" => assert_eq!(reply, "2"),
        _ => check_reply(service, &reply),
    }
}

/// A valid upgrade request for `/echo`.
fn upgrade_request() -> Vec<u8> {
    b"GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
      Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        .to_vec()
}

#[test]
fn every_truncation_of_an_upgrade_request_is_closed_without_an_upgrade() {
    let mut s = Server::serve(
        "echo",
        &["ws://127.0.0.1:0/echo"],
        &["--idle-timeout", "3s"],
    );
    let addr = ws_addr(s.url(0));
    let req = upgrade_request();
    // Every proper prefix, each on its own connection, all at once: half
    // of them half-closed after the prefix, half left hanging.
    let mut conns: Vec<(usize, TcpStream)> = (1..req.len())
        .map(|n| {
            let mut c = TcpStream::connect(addr).expect("connect");
            c.set_read_timeout(Some(WAIT)).expect("timeout");
            c.write_all(&req[..n]).expect("send a prefix");
            if n % 2 == 0 {
                c.shutdown(std::net::Shutdown::Write).expect("half-close");
            }
            (n, c)
        })
        .collect();
    let start = Instant::now();
    for (n, c) in &mut conns {
        let mut answer = Vec::new();
        match c.read_to_end(&mut answer) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("prefix of {n} bytes: not closed: {e}"),
        }
        let head = String::from_utf8_lossy(&answer);
        assert!(
            answer.is_empty() || head.starts_with("HTTP/1.1 4"),
            "prefix of {n} bytes: {head:?}"
        );
    }
    println!(
        "measured: {} truncated upgrade requests all closed within {:.1} s (header timeout 3 s)",
        conns.len(),
        start.elapsed().as_secs_f64()
    );
    assert!(start.elapsed() < Duration::from_secs(8));
    assert_alive(&mut s);
    assert_eq!(ask(&mut ws(s.url(0)), "whole"), "whole");
}

#[test]
fn malformed_upgrade_requests_get_4xx_and_the_server_stays_up() {
    let mut s = Server::serve(
        "echo",
        &["ws://127.0.0.1:0/echo"],
        &["--idle-timeout", "3s"],
    );
    let addr = ws_addr(s.url(0));
    let good = String::from_utf8(upgrade_request()).expect("text");
    let mut cases: Vec<(String, Vec<u8>)> = vec![
        (
            "no key".into(),
            good.replace("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "")
                .into_bytes(),
        ),
        (
            "version 12".into(),
            good.replace("Version: 13", "Version: 12").into_bytes(),
        ),
        (
            "POST upgrade".into(),
            good.replacen("GET", "POST", 1).into_bytes(),
        ),
        (
            "HTTP/9.9".into(),
            good.replace("HTTP/1.1", "HTTP/9.9").into_bytes(),
        ),
        (
            "no colon".into(),
            good.replace("Host: 127.0.0.1", "Host 127.0.0.1")
                .into_bytes(),
        ),
        (
            "space in name".into(),
            good.replace("Host:", "Ho st:").into_bytes(),
        ),
        (
            "NUL in header".into(),
            good.replace("127.0.0.1", "127.0.0.1\0").into_bytes(),
        ),
        (
            "bare LF".into(),
            good.replace("\r\n", "\n")
                .replace("Host", "Ho\rst")
                .into_bytes(),
        ),
        (
            "absolute garbage target".into(),
            good.replace("GET /echo", "GET \x7f\x01echo").into_bytes(),
        ),
        (
            "two content-lengths".into(),
            good.replace(
                "\r\n\r\n",
                "\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            )
            .into_bytes(),
        ),
        (
            "bad content-length".into(),
            good.replace("\r\n\r\n", "\r\nContent-Length: -5\r\n\r\n")
                .into_bytes(),
        ),
    ];
    let mut huge = good.replace("\r\n\r\n", "\r\nX-Big: ").into_bytes();
    huge.extend(std::iter::repeat_n(b'a', 256 * 1024));
    huge.extend_from_slice(b"\r\n\r\n");
    cases.push(("256 KiB header".into(), huge));
    let many: String = (0..2000).map(|i| format!("X-H{i}: v\r\n")).collect();
    cases.push((
        "2000 headers".into(),
        good.replace("\r\n\r\n", &format!("\r\n{many}\r\n"))
            .into_bytes(),
    ));
    for (name, req) in &cases {
        let mut c = TcpStream::connect(addr).expect("connect");
        c.set_read_timeout(Some(WAIT)).expect("timeout");
        c.set_write_timeout(Some(WAIT)).expect("timeout");
        let _ = c.write_all(req);
        let mut answer = Vec::new();
        match c.read_to_end(&mut answer) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("{name}: no answer and no close within {WAIT:?}: {e}"),
        }
        let head = String::from_utf8_lossy(&answer);
        let status = head.split(' ').nth(1).unwrap_or("");
        assert!(
            answer.is_empty() || status.starts_with('4'),
            "{name}: {}",
            head.lines().next().unwrap_or("")
        );
        assert!(!head.starts_with("HTTP/1.1 101"), "{name} was upgraded");
    }
    assert_alive(&mut s);
    assert_eq!(ask(&mut ws(s.url(0)), "fine"), "fine");
}

#[test]
fn abrupt_resets_mid_message_on_every_transport_leave_the_server_up() {
    let dir = tempdir();
    let cert = make_cert(&dir.path().join("tls"));
    let tls = tls_args(&cert);
    let extra: Vec<&str> = tls.iter().map(String::as_str).collect();
    for service in ["echo", "random"] {
        let mut s = Server::serve(
            service,
            &[
                "tcp://127.0.0.1:0",
                "ws://127.0.0.1:0/svc",
                "tls://127.0.0.1:0",
            ],
            &extra,
        );
        let tcp_addr = s.addr(0);
        let ws_url = url_for(&s, "ws");
        let tls_addr = tls_addr(&s);
        let big = if service == "echo" {
            vec![b'z'; 256 * 1024]
        } else {
            b"100000\n".repeat(20)
        };
        for round in 0..20 {
            // TCP: half a line, or a request whose large answer is being
            // written when the reset arrives.
            let mut c = TcpStream::connect(tcp_addr).expect("connect");
            c.set_write_timeout(Some(Duration::from_secs(2)))
                .expect("timeout");
            let _ = c.write_all(if round % 2 == 0 { b"12 3" } else { &big });
            if round % 3 == 0 {
                thread::sleep(Duration::from_millis(5));
            }
            reset(c);
            // WebSocket: half a frame, or a whole message then reset.
            let mut w = raw_ws(ws_addr(&ws_url), "/svc");
            let f = client_frame(OP_TEXT, b"100000");
            let _ = w.write_all(if round % 2 == 0 {
                &f[..f.len() / 2]
            } else {
                &f
            });
            reset(w);
            // HTTP: half a request.
            let mut h = TcpStream::connect(ws_addr(&ws_url)).expect("connect");
            let _ = h.write_all(b"GET /svc HTTP/1.1\r\nHost: x\r\nUpg");
            reset(h);
            // TLS: mid-handshake, and mid-record after the handshake.
            let mut t = TcpStream::connect(tls_addr).expect("connect");
            let _ = t.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01]);
            reset(t);
            let mut t = TlsStream::connect(tls_addr, &cert.cert).write_only();
            t.sock
                .set_write_timeout(Some(Duration::from_secs(2)))
                .expect("timeout");
            let _ = t.write_all(&big);
            reset(t.sock);
        }
        // The server noticed every reset and serves fresh clients.
        thread::sleep(Duration::from_millis(200));
        assert_alive(&mut s);
        let expect = |reply: String| check_or_echo(service, reply);
        expect(Conn::tcp(tcp_addr).ask("1 2 2"));
        expect(TlsStream::connect(tls_addr, &cert.cert).conn().ask("1 2 2"));
        expect(ask(&mut ws(&ws_url), "1 2 2"));
    }
}

// ---------------------------------------------------------------------------
// UDP

#[test]
fn udp_datagram_flood_leaves_the_server_responsive() {
    const MAX_DATAGRAMS: usize = 200_000;
    const MAX_TIME: Duration = Duration::from_secs(3);
    for service in ["echo", "random", "counter"] {
        let mut s = Server::serve(service, &["udp://127.0.0.1:0"], &[]);
        let addr = s.addr(0);
        let rss_before = s.rss_kib();
        // Four flooders, one of them changing its source port every 1000
        // datagrams (peers the counter has to remember, within its bound).
        let start = Instant::now();
        let flooders: Vec<_> = (0..4)
            .map(|k| {
                thread::spawn(move || {
                    let mut sent = 0;
                    let mut sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
                    let payload = b"1 1 1\n";
                    while sent < MAX_DATAGRAMS / 4 && start.elapsed() < MAX_TIME {
                        if k == 0 && sent % 1000 == 0 {
                            sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
                        }
                        if sock.send_to(payload, addr).is_ok() {
                            sent += 1;
                        }
                    }
                    sent
                })
            })
            .collect();
        let sent: usize = flooders
            .into_iter()
            .map(|f| f.join().expect("flooder"))
            .sum();
        let flood_time = start.elapsed();
        let rss_during = s.rss_kib();
        // Responsive: a normal client is answered (UDP may drop a datagram
        // while the server drains its backlog, so ask up to 20 times).
        let u = Udp::to(addr);
        let asked = Instant::now();
        let mut answered = None;
        for _ in 0..20 {
            u.send(b"1 5 5\n");
            if let Some(r) = u.try_recv(Duration::from_millis(250)) {
                answered = Some(r);
                break;
            }
        }
        let latency = asked.elapsed();
        println!(
            "measured: UDP flood on {service}: {sent} datagrams in {:.2} s; answered {:.1} ms after the flood; RSS {:.1} MiB -> {:.1} MiB",
            flood_time.as_secs_f64(),
            ms(latency),
            mib(rss_before),
            mib(rss_during)
        );
        let reply = answered.expect("no answer after the flood");
        match service {
            "echo" => assert_eq!(reply, b"1 5 5\n"),
            "random" => assert_eq!(reply, b"5\n"),
            _ => {
                let n: u64 = String::from_utf8_lossy(&reply)
                    .trim()
                    .parse()
                    .expect("count");
                assert!(n >= 2, "{n}");
            }
        }
        assert!(
            rss_during.saturating_sub(rss_before) < RSS_GROWTH_LIMIT_KIB,
            "RSS grew by more than 64 MiB"
        );
        assert_alive(&mut s);
    }
}

#[test]
fn oversized_udp_datagrams_get_their_answers_and_the_server_stays_up() {
    const BIGGEST: usize = 65_507;
    for service in ["echo", "daytime", "random", "counter"] {
        let mut s = Server::serve(service, &["udp://127.0.0.1:0"], &[]);
        let u = Udp::to(s.addr(0));
        let mut g = Garbage::new(9);
        for (i, d) in [
            vec![b'7'; BIGGEST],
            "1 ".repeat(BIGGEST / 2).into_bytes(),
            g.bytes(BIGGEST),
        ]
        .into_iter()
        .enumerate()
        {
            for _ in 0..10 {
                u.send(&d);
                let reply = u.recv();
                match service {
                    "echo" => assert!(reply == d, "datagram {i} came back changed"),
                    _ => {
                        let text = String::from_utf8(reply).expect("UTF-8");
                        let line = text.strip_suffix('\n').expect("one line");
                        if service == "random" {
                            assert!(line.starts_with("ERR "), "datagram {i}: {line}");
                        } else {
                            check_reply(service, line);
                        }
                    }
                }
            }
        }
        // A datagram larger than UDP allows cannot even be sent.
        let too_big = vec![0u8; BIGGEST + 1];
        assert!(u.socket.send(&too_big).is_err());
        assert_alive(&mut s);
        let reply = u.ask("1 2 2\n");
        check_or_echo(service, reply.trim_end().to_string());
    }
}
