//! Three instances behind a balancer (docs/behaviour.md, "Many
//! instances"), end to end with real processes: `redis-server` holds the
//! count, three `duplex serve counter` instances read PROXY headers and
//! count in it, and HAProxy (`deploy/haproxy.cfg`) or nginx
//! (`deploy/nginx-stream.conf`) stands in front, started from the
//! repository's files with free ports.
//!
//! Clients come one after another, alternating TCP and WebSocket, from
//! source addresses 127.0.0.2 and up (the balancer reaches the instances
//! from 127.0.0.1), so a log line naming the client's own address and port
//! can only have learnt it from the PROXY header. Then clients all at once;
//! then one instance is killed with SIGKILL while clients keep coming; then
//! Redis stops for a while and comes back. The count never repeats, and the
//! instances that are left exit 0 on SIGTERM.

mod common;
mod fleet;

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::*;
use fleet::balancer::*;
use fleet::*;

/// [`Balancer::haproxy`] or [`Balancer::nginx`].
type Start = fn(&Path, &HashMap<u16, u16>) -> Balancer;

const KEY: &str = "duplex:behind-balancer";
const UNAVAILABLE: &str = "ERR counter store unavailable";

/// How many clients each phase has.
struct Run {
    in_turn: u64,
    at_once: usize,
    around_kill: u64,
    outage: Duration,
}

/// Redis, three instances and a balancer, with what the clients saw.
struct Fleet {
    redis: Redis,
    instances: Vec<Server>,
    balancer: Balancer,
    /// The address and port of every client that got a reply.
    served: Vec<SocketAddr>,
    /// Client number, for the source address and TCP or WebSocket.
    next: usize,
}

impl Fleet {
    fn start(dir: &Path, balancer: Start) -> Fleet {
        let redis = Redis::start(dir);
        let ports = free_ports();
        let instances: Vec<Server> = (1..=3)
            .map(|n| {
                let [tcp, ws, metrics] = instance_ports(n).map(|p| ports[&p]);
                let tcp = format!("tcp://127.0.0.1:{tcp}");
                let ws = format!("ws://127.0.0.1:{ws}/counter");
                let metrics = format!("tcp://127.0.0.1:{metrics}");
                let url = redis.url();
                let mut args = vec![
                    "serve",
                    "counter",
                    &tcp,
                    &ws,
                    "--metrics",
                    &metrics,
                    "--proxy-protocol",
                    "--counter-store",
                    &url,
                    "--counter-key",
                    KEY,
                ];
                args.extend(EVERY_COUNT_ANSWERED);
                Server::start(&args, 3)
            })
            .collect();
        for s in &instances {
            let ready = eventually(WAIT, || http_get(s.addr(0), "/readyz").0 == 200);
            assert!(ready, "/readyz never 200: {}", s.stderr());
        }
        let balancer = balancer(dir, &ports);
        Fleet {
            redis,
            instances,
            balancer,
            served: Vec::new(),
            next: 0,
        }
    }

    /// One client's one request through the balancer: TCP or WebSocket by
    /// turns, from 127.0.0.2 and up. The reply and the client's address.
    fn try_ask(&mut self) -> io::Result<(String, SocketAddr)> {
        let i = self.next;
        self.next += 1;
        let source = [127, 0, 0, 2 + (i % 200) as u8];
        if i.is_multiple_of(2) {
            let mut c = connect_from(source, self.balancer.tcp)?;
            let me = c.local_addr()?;
            Ok((ask_line(&mut c, "")?, me))
        } else {
            let mut c = connect_from(source, self.balancer.ws)?;
            let me = c.local_addr()?;
            ws_handshake(&mut c, "/counter")?;
            Ok((ws_ask(&mut c, "")?, me))
        }
    }

    /// A client that reconnects until it is answered (at most 20 times):
    /// its reply, and how many tries failed.
    fn ask(&mut self) -> (String, u32) {
        let mut failed = 0;
        loop {
            match self.try_ask() {
                Ok((reply, me)) => {
                    self.served.push(me);
                    return (reply, failed);
                }
                Err(e) => {
                    failed += 1;
                    assert!(failed < 20, "no instance answered 20 tries: {e}");
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
    }

    /// The count in Redis.
    fn stored(&self) -> u64 {
        let n = self.redis.cli(&["GET", KEY]);
        n.parse().unwrap_or_else(|_| panic!("GET {KEY}: {n:?}"))
    }
}

fn number(reply: &str) -> u64 {
    reply
        .parse()
        .unwrap_or_else(|_| panic!("not a count: {reply:?}"))
}

/// Clients in turn: each reply is a count above every one before.
fn in_turn(f: &mut Fleet, n: u64, last: &mut u64, failed: &mut u32) {
    for _ in 0..n {
        let (reply, fails) = f.ask();
        *failed += fails;
        let count = number(&reply);
        assert!(count > *last, "{count} after {last}: a count repeated");
        *last = count;
    }
}

/// `n` clients connected at once (threads of 25), then each asks once.
/// The replies.
fn at_once(f: &mut Fleet, n: usize) -> Vec<u64> {
    const PER_THREAD: usize = 25;
    let threads = n.div_ceil(PER_THREAD);
    let barrier = Arc::new(Barrier::new(threads));
    let (tcp, ws) = (f.balancer.tcp, f.balancer.ws);
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let mut conns: Vec<(TcpStream, bool)> = (0..PER_THREAD)
                    .map(|i| {
                        let source = [127, 0, 0, 2 + ((t * PER_THREAD + i) % 200) as u8];
                        let web = i % 2 == 1;
                        let mut c =
                            connect_from(source, if web { ws } else { tcp }).expect("connect");
                        if web {
                            ws_handshake(&mut c, "/counter").expect("handshake");
                        }
                        (c, web)
                    })
                    .collect();
                barrier.wait();
                let mut replies = Vec::new();
                for (c, web) in &mut conns {
                    let reply = if *web { ws_ask(c, "") } else { ask_line(c, "") };
                    let me = c.local_addr().expect("local addr");
                    replies.push((number(&reply.expect("reply")), me));
                }
                replies
            })
        })
        .collect();
    let mut counts = Vec::new();
    for h in handles {
        for (count, me) in h.join().expect("client thread") {
            counts.push(count);
            f.served.push(me);
        }
    }
    counts
}

/// The whole run against one balancer; a summary on stderr.
fn run(balancer: Start, sizes: Run) {
    let dir = tempdir();
    let mut f = Fleet::start(dir.path(), balancer);
    let name = f.balancer.name;
    let started = Instant::now();

    // Clients in turn: exactly 1..=N.
    let replies: Vec<u64> = (0..sizes.in_turn).map(|_| number(&f.ask().0)).collect();
    let expected: Vec<u64> = (1..=sizes.in_turn).collect();
    assert_eq!(replies, expected, "{name}: clients in turn");
    let mut last = sizes.in_turn;

    // All at once: nobody is answered a count the store never reached.
    let counts = at_once(&mut f, sizes.at_once);
    let total = sizes.in_turn + sizes.at_once as u64;
    assert_eq!(f.stored(), total, "{name}: one INCR per client");
    assert!(counts.iter().all(|&c| c > last && c <= total), "{counts:?}");
    last = total;

    // SIGKILL of one instance with a client of each instance connected:
    // the one it had reconnects and is served by the others.
    let held: Vec<TcpStream> = (0..3)
        .map(|i| connect_from([127, 0, 0, 250 + i], f.balancer.tcp).expect("connect a held client"))
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut victim = f.instances.remove(1);
    victim.signal(libc::SIGKILL);
    assert!(victim.wait_exit(WAIT).is_some(), "SIGKILL");
    let mut cut = 0;
    for mut c in held {
        match ask_line(&mut c, "") {
            Ok(reply) => assert!(number(&reply) > last, "{reply} after {last}"),
            Err(_) => {
                cut += 1;
                let (reply, _) = f.ask();
                assert!(number(&reply) > last, "{reply} after {last}");
            }
        }
    }
    assert_eq!(cut, 1, "{name}: the killed instance had one of the three");
    last = f.stored();
    let mut failed = 0;
    in_turn(&mut f, sizes.around_kill, &mut last, &mut failed);
    if name == "haproxy" {
        // Its health checks (GET /healthz on each metrics listener) saw
        // the death, and only that one.
        let seen = eventually(WAIT, || {
            let log = f.balancer.log();
            log.contains("duplex_tcp/duplex2 is DOWN") && log.contains("duplex_ws/duplex2 is DOWN")
        });
        let log = f.balancer.log();
        assert!(seen, "HAProxy's checks did not see the kill: {log}");
        for up in ["duplex1 is DOWN", "duplex3 is DOWN"] {
            assert!(!log.contains(up), "{log}");
        }
    }

    // Redis stops: every client is told so, and /readyz says 503.
    f.redis.stop();
    let outage = Instant::now();
    let mut unavailable = 0;
    while outage.elapsed() < sizes.outage {
        let (reply, _) = f.ask();
        assert_eq!(reply, UNAVAILABLE, "{name}: while Redis is down");
        unavailable += 1;
        std::thread::sleep(Duration::from_millis(10));
    }
    for s in &f.instances {
        let not_ready = eventually(WAIT, || http_get(s.addr(0), "/readyz").0 == 503);
        assert!(not_ready, "/readyz while Redis is down: {}", s.stderr());
    }
    f.redis.restart();
    // Back: each instance counts again once it has reconnected (its
    // /readyz says 200), above every count before, without a repeat.
    let mut resumed_after = 0;
    let back = eventually(Duration::from_secs(20), || {
        std::thread::sleep(Duration::from_millis(10));
        let (reply, _) = f.ask();
        if reply == UNAVAILABLE {
            resumed_after += 1;
        } else {
            assert!(number(&reply) > last, "{reply} after {last}: a repeat");
            last = number(&reply);
        }
        let ready = |s: &Server| http_get(s.addr(0), "/readyz").0 == 200;
        f.instances.iter().all(ready)
    });
    assert!(back, "{name}: not every instance reconnected to Redis");
    in_turn(&mut f, 20, &mut last, &mut failed);

    // Every session's log line names its client, never the balancer.
    let mut logs = victim.stderr();
    for s in &mut f.instances {
        s.signal(libc::SIGTERM);
        let status = s.wait_exit(WAIT).expect("exit on SIGTERM");
        assert!(status.success(), "{status}: {}", s.stderr());
        logs.push_str(&s.stderr());
    }
    f.balancer.stop();
    assert!(!logs.contains("panicked"), "{logs}");
    let peers: HashSet<&str> = logs
        .lines()
        .filter(|l| l.contains("session closed"))
        .map(|l| {
            assert!(l.contains(" proxy=127.0.0.1:"), "no proxy field: {l}");
            let peer = l.split("peer=").nth(1).and_then(|r| r.split(' ').next());
            peer.unwrap_or_else(|| panic!("no peer: {l}"))
        })
        .collect();
    assert!(
        peers.iter().all(|p| !p.starts_with("127.0.0.1:")),
        "{name}'s own address as a peer"
    );
    let missing: Vec<_> = f
        .served
        .iter()
        .filter(|a| !peers.contains(a.to_string().as_str()))
        .collect();
    assert!(missing.is_empty(), "no session line for {missing:?}");
    eprintln!(
        "{name}: {} clients served ({} in turn, {} at once), counts 1..={last} never repeated, \
         store {}, kill -9: {cut} client cut and served again, {failed} failed tries after it; \
         Redis down {:?}: {unavailable} replies `{UNAVAILABLE}`, {resumed_after} more while the instances \
         reconnected; {:?} in all",
        f.served.len(),
        sizes.in_turn,
        sizes.at_once,
        f.stored(),
        sizes.outage,
        started.elapsed(),
    );
}

#[test]
fn three_instances_behind_haproxy_count_once_name_the_client_and_survive_kill_and_outage() {
    run(
        Balancer::haproxy,
        Run {
            in_turn: 1000,
            at_once: 500,
            around_kill: 100,
            outage: Duration::from_secs(3),
        },
    );
}

#[test]
fn three_instances_behind_nginx_stream_do_the_same() {
    run(
        Balancer::nginx,
        Run {
            in_turn: 200,
            at_once: 100,
            around_kill: 50,
            outage: Duration::from_secs(2),
        },
    );
}
