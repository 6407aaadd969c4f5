//! `--counter-store` (docs/behaviour.md, "Many instances"): `counter`
//! counts the clients of every instance that shares one Redis key, with one
//! `INCR` per new client and no round trip per request; while Redis does not
//! answer, requests get `ERR counter store unavailable`, sessions go on,
//! `/readyz` answers 503 and `/healthz` `ok`, and counting resumes without a
//! duplicate once Redis is back. Against the real `redis-server`.

mod common;
mod fleet;

use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use common::*;
use fleet::*;

const UNAVAILABLE: &str = "ERR counter store unavailable";

/// A counter instance on tcp, udp and ws, counting in `redis`; metrics
/// (and /readyz) on its first listener.
fn instance(redis: &str, extra: &[&str]) -> Server {
    let mut args = vec![
        "serve",
        "counter",
        "tcp://127.0.0.1:0",
        "udp://127.0.0.1:0",
        "ws://127.0.0.1:0/count",
        "--metrics",
        "tcp://127.0.0.1:0",
        "--counter-store",
        redis,
    ];
    args.extend_from_slice(extra);
    Server::start(&args, 4)
}

fn ready(s: &Server) -> u16 {
    http_get(s.addr(0), "/readyz").0
}

fn ask_tcp(s: &Server) -> String {
    let mut c = connect_from([127, 0, 0, 1], s.addr(1)).expect("connect");
    ask_line(&mut c, "").expect("reply")
}

fn ask_ws(s: &Server) -> String {
    let addr: SocketAddr = s.url(3)["ws://".len()..]
        .trim_end_matches("/count")
        .parse()
        .expect("addr");
    let mut c = connect_from([127, 0, 0, 1], addr).expect("connect");
    ws_handshake(&mut c, "/count").expect("handshake");
    ws_ask(&mut c, "").expect("reply")
}

fn wait_ready(s: &Server, code: u16) {
    let ok = eventually(WAIT, || ready(s) == code);
    assert!(ok, "/readyz never answered {code}: {}", s.stderr());
}

#[test]
fn instances_sharing_a_store_count_each_others_clients_with_one_incr_each() {
    let dir = tempdir();
    let redis = Redis::start(dir.path());
    let a = instance(&redis.url(), &EVERY_COUNT_ANSWERED);
    let b = instance(&redis.url(), &EVERY_COUNT_ANSWERED);
    wait_ready(&a, 200);
    wait_ready(&b, 200);
    let gets_before = redis.calls("get");
    let mut replies = Vec::new();
    for i in 0..20 {
        let s = if i % 2 == 0 { &a } else { &b };
        replies.push(if i % 3 == 0 { ask_ws(s) } else { ask_tcp(s) });
    }
    let expected: Vec<String> = (1..=20).map(|n| n.to_string()).collect();
    assert_eq!(replies, expected);
    // UDP: a peer counts once (per generation), however often it asks.
    let udp = UdpSocket::bind("127.0.0.1:0").expect("bind");
    udp.set_read_timeout(Some(WAIT)).expect("timeout");
    for _ in 0..3 {
        udp.send_to(b"\n", a.addr(2)).expect("send");
        let mut buf = [0u8; 32];
        let n = udp.recv(&mut buf).expect("reply");
        assert_eq!(&buf[..n], b"21\n");
    }
    // Many requests on one session: no round trip of their own.
    let mut c = connect_from([127, 0, 0, 1], b.addr(1)).expect("connect");
    for _ in 0..50 {
        assert_eq!(ask_line(&mut c, "").expect("reply"), "22");
    }
    drop(c);
    assert_eq!(redis.calls("incr"), 22, "one INCR per client");
    assert_eq!(redis.cli(&["GET", "duplex:clients"]), "22");
    // Each instance reads the count once a second, whatever the traffic.
    let gets = redis.calls("get") - gets_before;
    assert!(gets < 20, "{gets} GETs for 72 requests");
}

#[test]
fn redis_down_at_start_is_not_fatal_and_counting_starts_when_it_comes() {
    let dir = tempdir();
    let mut redis = Redis::start(dir.path());
    redis.stop();
    let s = instance(&redis.url(), &["--counter-key", "other:key"]);
    assert_eq!(ready(&s), 503);
    assert_eq!(http_get(s.addr(0), "/healthz"), (200, "ok\n".to_string()));
    // The session goes on: every request is answered.
    let mut c = connect_from([127, 0, 0, 1], s.addr(1)).expect("connect");
    assert_eq!(ask_line(&mut c, "").expect("reply"), UNAVAILABLE);
    assert_eq!(ask_line(&mut c, "").expect("reply"), UNAVAILABLE);
    let udp = UdpSocket::bind("127.0.0.1:0").expect("bind");
    udp.set_read_timeout(Some(WAIT)).expect("timeout");
    let ask_udp = || {
        udp.send_to(b"\n", s.addr(2)).expect("send");
        let mut buf = [0u8; 64];
        let n = udp.recv(&mut buf).expect("reply");
        String::from_utf8_lossy(&buf[..n]).trim_end().to_string()
    };
    assert_eq!(ask_udp(), UNAVAILABLE);
    // The warning is written before the first reply, but read from the
    // pipe by a thread of the test's own.
    let warned = eventually(WAIT, || s.stderr().contains("counter store unavailable"));
    assert!(warned, "{}", s.stderr());
    redis.restart();
    wait_ready(&s, 200);
    // The session admitted during the outage was not counted, and is never
    // given a count: any number now would be another client's.
    assert_eq!(ask_line(&mut c, "").expect("reply"), UNAVAILABLE);
    assert_eq!(ask_tcp(&s), "1");
    assert_eq!(ask_line(&mut c, "").expect("reply"), UNAVAILABLE);
    // A UDP peer that was not counted is not remembered either: its first
    // datagram once the store answers counts it, the next ones do not.
    assert_eq!(ask_udp(), "2");
    assert_eq!(ask_udp(), "2");
    assert_eq!(redis.cli(&["GET", "other:key"]), "2");
    let (_, metrics) = http_get(s.addr(0), "/metrics");
    assert!(
        metric(&metrics, "duplex_counter_store_errors_total") > 0,
        "{metrics}"
    );
    assert_eq!(metric(&metrics, "duplex_counter_store_up"), 1, "{metrics}");
}

#[test]
fn an_outage_answers_err_and_counting_resumes_without_a_duplicate() {
    let dir = tempdir();
    let mut redis = Redis::start(dir.path());
    let s = instance(&redis.url(), &EVERY_COUNT_ANSWERED);
    wait_ready(&s, 200);
    let mut seen: Vec<u64> = (0..5)
        .map(|_| ask_tcp(&s).parse().expect("number"))
        .collect();
    let mut held = connect_from([127, 0, 0, 1], s.addr(1)).expect("connect");
    assert_eq!(ask_line(&mut held, "").expect("reply"), "6");
    redis.stop();
    wait_ready(&s, 503);
    for _ in 0..5 {
        assert_eq!(ask_tcp(&s), UNAVAILABLE);
        assert_eq!(ask_ws(&s), UNAVAILABLE);
    }
    // A session opened before the outage goes on, and says so too.
    assert_eq!(ask_line(&mut held, "").expect("reply"), UNAVAILABLE);
    redis.restart();
    wait_ready(&s, 200);
    seen.push(6);
    for _ in 0..5 {
        let reply = ask_tcp(&s);
        let n = reply
            .parse()
            .unwrap_or_else(|_| panic!("{reply:?} once the store is back: {}", s.stderr()));
        seen.push(n);
    }
    let mut sorted = seen.clone();
    sorted.dedup();
    assert_eq!(sorted, seen, "a count repeated: {seen:?}");
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
    assert_eq!(seen.last(), Some(&11), "{seen:?}");
}

#[test]
fn a_store_that_stops_answering_is_unavailable_within_the_timeout() {
    let dir = tempdir();
    let redis = Redis::start(dir.path());
    let s = instance(&redis.url(), &["--counter-timeout", "200ms"]);
    wait_ready(&s, 200);
    assert_eq!(ask_tcp(&s), "1");
    // SIGSTOP: connections are accepted, nothing is answered.
    let pid = redis_pid(&redis);
    kill(pid, "STOP");
    let start = std::time::Instant::now();
    let reply = ask_tcp(&s);
    let took = start.elapsed();
    kill(pid, "CONT");
    assert!(
        reply == UNAVAILABLE || reply == "1",
        "{reply} while Redis was stopped"
    );
    assert!(took < Duration::from_secs(2), "a client waited {took:?}");
    wait_ready(&s, 200);
    // Counting resumes. On a loaded machine one more INCR may outlast the
    // short timeout; that client is answered ERR, the next one a number.
    let counts = eventually(WAIT, || ask_tcp(&s).parse::<u64>().is_ok());
    assert!(counts, "no count once Redis answers again: {}", s.stderr());
}

fn redis_pid(r: &Redis) -> u32 {
    r.cli(&["INFO", "server"])
        .lines()
        .find_map(|l| l.strip_prefix("process_id:"))
        .and_then(|p| p.trim().parse().ok())
        .expect("process_id")
}

#[test]
fn counter_store_options_are_checked() {
    for (args, needle) in [
        (
            &["--counter-store", "http://x:1"][..],
            "is not a redis:// URL",
        ),
        (&["--counter-store", "redis://"], "redis://"),
        (&["--counter-key", "k"], "apply with --counter-store only"),
        (
            &[
                "--counter-store",
                "redis://127.0.0.1:1",
                "--counter-timeout",
                "0",
            ],
            "counter-timeout must be longer than 0",
        ),
    ] {
        let mut all = vec!["serve", "counter", "tcp://127.0.0.1:0"];
        all.extend_from_slice(args);
        let out = run_duplex(&all, WAIT);
        assert_eq!(out.code(), Some(2), "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(needle), "{args:?}: {}", out.stderr);
    }
    let dir = tempdir();
    let file = dir.path().join("d.toml");
    std::fs::write(
        &file,
        "[counter]\nstore = \"redis://127.0.0.1:1/0\"\nkey = \"k\"\ntimeout = \"250ms\"\n\
         [[listener]]\nservice = \"counter\"\nurls = [\"tcp://127.0.0.1:0\"]\n",
    )
    .expect("write");
    let s = Server::start(&["serve", "--config", &file.display().to_string()], 1);
    let mut c = TcpStream::connect(s.addr(0)).expect("connect");
    c.set_read_timeout(Some(WAIT)).expect("timeout");
    assert_eq!(ask_line(&mut c, "").expect("reply"), UNAVAILABLE);
}
