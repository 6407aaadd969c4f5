//! The server as a library (docs/behaviour.md, "Serving" and "Shutdown"):
//! `server::run` in the test's own process, as tokio's mini-redis tests its
//! server. The test builds the plan by hand, binds the sockets itself (so it
//! knows the ports before the server starts) and stops the server by
//! completing the shutdown future it handed over: no binary, no signals.

use std::sync::Arc;
use std::time::Duration;

use duplex::endpoint::Endpoint;
use duplex::server::{self, Limits, Listen, ListenOptions, Plan, Prebound, ServicePlan};
use duplex::service::{Counter, Service, Stats};
use duplex::websocket::Policy;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio_tungstenite::tungstenite::Message;

const WAIT: Duration = Duration::from_secs(5);

fn url(s: &str) -> Endpoint {
    s.parse().expect("a valid URL")
}

/// Echo on a TCP socket and on a WebSocket path, counter on a UDP socket,
/// all bound here on ephemeral loopback ports.
struct Sockets {
    tcp: std::net::TcpListener,
    ws: std::net::TcpListener,
    udp: std::net::UdpSocket,
}

impl Sockets {
    fn bind() -> Sockets {
        Sockets {
            tcp: std::net::TcpListener::bind("127.0.0.1:0").expect("bind tcp"),
            ws: std::net::TcpListener::bind("127.0.0.1:0").expect("bind ws"),
            udp: std::net::UdpSocket::bind("127.0.0.1:0").expect("bind udp"),
        }
    }

    fn plan(self, limits: Limits) -> Plan {
        let stats = Stats::new();
        let counter = Service::Line(Arc::new(Counter::new(stats.clone())));
        Plan {
            limits,
            compression: Some(Policy::default()),
            stats,
            bridges: Vec::new(),
            services: vec![
                ServicePlan {
                    service: Service::Echo,
                    listen: vec![
                        Listen::Bound(Prebound::Tcp(self.tcp), url("tcp://127.0.0.1:0")),
                        Listen::Bound(Prebound::Tcp(self.ws), url("ws://127.0.0.1:0/echo")),
                    ],
                    options: ListenOptions::default(),
                },
                ServicePlan {
                    service: counter,
                    listen: vec![Listen::Bound(
                        Prebound::Udp(self.udp),
                        url("udp://127.0.0.1:0"),
                    )],
                    options: ListenOptions::default(),
                },
            ],
            tls: None,
            metrics: None,
            counter_store: None,
            notify: false,
        }
    }
}

/// A TCP connection to the echo at `addr` that has echoed `bytes`.
async fn echoed(addr: std::net::SocketAddr, bytes: &[u8]) -> TcpStream {
    let mut conn = TcpStream::connect(addr).await.expect("connect tcp");
    conn.write_all(bytes).await.expect("send");
    let mut back = vec![0u8; bytes.len()];
    tokio::time::timeout(WAIT, conn.read_exact(&mut back))
        .await
        .expect("echo in time")
        .expect("echo");
    assert_eq!(back, bytes);
    conn
}

/// A server running in this process, and the way to stop it.
struct Running {
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// `server::run(plan, …)` in a task of its own; its shutdown future is
    /// the receiving end of `stop`.
    fn start(plan: Plan) -> Running {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(server::run(plan, async {
            let _ = stopped.await;
        }));
        Running { stop, server }
    }

    /// Completes the shutdown future; `run` must return Ok in time.
    async fn stop(self) {
        self.stop.send(()).expect("the server is waiting");
        tokio::time::timeout(WAIT, self.server)
            .await
            .expect("run returns in time")
            .expect("the task did not panic")
            .expect("run succeeded");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_serves_a_plan_until_the_shutdown_future_completes() {
    let sockets = Sockets::bind();
    let tcp = sockets.tcp.local_addr().expect("tcp addr");
    let ws = sockets.ws.local_addr().expect("ws addr");
    let udp = sockets.udp.local_addr().expect("udp addr");
    let server = Running::start(sockets.plan(Limits::default()));

    // TCP echo: the bytes back, unchanged.
    let mut conn = echoed(tcp, b"hello\x00world\n").await;

    // WebSocket echo on the path of the URL, through the server's HTTP
    // listener on the socket bound here.
    let (mut socket, _) = tokio::time::timeout(
        WAIT,
        tokio_tungstenite::connect_async(format!("ws://{ws}/echo")),
    )
    .await
    .expect("handshake in time")
    .expect("handshake");
    socket
        .send(Message::text("over websocket"))
        .await
        .expect("send");
    let reply = tokio::time::timeout(WAIT, socket.next())
        .await
        .expect("reply in time")
        .expect("a message")
        .expect("no error");
    assert_eq!(reply, Message::text("over websocket"));

    // The counter shares the plan's Stats: the TCP and WebSocket clients
    // so far, and this UDP client.
    let client = UdpSocket::bind("127.0.0.1:0").await.expect("bind client");
    client.send_to(b"\n", udp).await.expect("send datagram");
    let mut buf = [0u8; 64];
    let (n, _) = tokio::time::timeout(WAIT, client.recv_from(&mut buf))
        .await
        .expect("count in time")
        .expect("count");
    assert_eq!(&buf[..n], b"3\n");

    // Shutdown: `run` returns Ok, the idle TCP session is closed, the
    // WebSocket gets close 1001, and the listener is gone.
    server.stop().await;
    let mut rest = Vec::new();
    let n = tokio::time::timeout(WAIT, conn.read_to_end(&mut rest))
        .await
        .expect("closed in time")
        .expect("clean close");
    assert_eq!(n, 0, "nothing but the close: {rest:?}");
    let close = tokio::time::timeout(WAIT, socket.next())
        .await
        .expect("close in time");
    match close {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), 1001),
        other => panic!("expected close 1001, got {other:?}"),
    }
    assert!(
        TcpStream::connect(tcp).await.is_err(),
        "still accepting after shutdown"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_applies_the_limits_of_its_plan() {
    let sockets = Sockets::bind();
    let tcp = sockets.tcp.local_addr().expect("tcp addr");
    let limits = Limits {
        max_connections: 1,
        ..Limits::default()
    };
    let server = Running::start(sockets.plan(limits));
    let _first = echoed(tcp, b"x").await;
    // The one session slot is taken: the next client hears why and is closed.
    let mut second = TcpStream::connect(tcp).await.expect("connect");
    let mut answer = String::new();
    tokio::time::timeout(WAIT, second.read_to_string(&mut answer))
        .await
        .expect("refused in time")
        .expect("read");
    assert!(answer.starts_with("ERR server busy"), "{answer:?}");
    server.stop().await;
}

#[tokio::test]
async fn run_reports_a_socket_that_cannot_serve_the_url() {
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind udp");
    let plan = Plan {
        limits: Limits::default(),
        compression: None,
        stats: Stats::new(),
        bridges: Vec::new(),
        services: vec![ServicePlan {
            service: Service::Echo,
            listen: vec![Listen::Bound(Prebound::Udp(udp), url("tcp://127.0.0.1:0"))],
            options: ListenOptions::default(),
        }],
        tls: None,
        metrics: None,
        counter_store: None,
        notify: false,
    };
    let e = server::run(plan, std::future::pending::<()>())
        .await
        .expect_err("a UDP socket cannot serve tcp://");
    assert!(e.to_string().contains("tcp://127.0.0.1:0"), "{e}");
}
