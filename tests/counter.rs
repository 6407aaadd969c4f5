//! `counter` (docs/behaviour.md, "Services"): the number of clients since
//! start, over every transport of the process; refused connections do not
//! count.

mod common;

use common::*;

#[test]
fn counts_clients_across_tcp_unix_and_udp() {
    let dir = tempdir();
    let unix = unix_url(dir.path(), "c.sock");
    let server = Server::serve(
        "counter",
        &["tcp://127.0.0.1:0", &unix, "udp://127.0.0.1:0"],
        &[],
    );
    let mut first = Conn::tcp(server.addr(0));
    assert_eq!(first.ask(""), "1");
    // No greeting: the counter answers requests only.
    let mut second = Conn::unix(&server.path(1));
    assert_eq!(second.ask("how many?"), "2");
    let udp = Udp::to(server.addr(2));
    assert_eq!(udp.ask("x"), "3\n");
    // The same UDP peer is one client, however many datagrams it sends.
    assert_eq!(udp.ask("x"), "3\n");
    let another_udp = Udp::to(server.addr(2));
    assert_eq!(another_udp.ask(""), "4\n");
    // Every session sees the total so far.
    assert_eq!(first.ask(""), "4");
    assert_eq!(Conn::tcp(server.addr(0)).ask(""), "5");
    assert_eq!(second.ask(""), "5");
}

#[test]
fn counts_clients_of_every_service_in_one_process() {
    let dir = tempdir();
    let file = dir.path().join("c.toml");
    std::fs::write(
        &file,
        "[[listener]]\nservice = \"echo\"\nurls = [\"tcp://127.0.0.1:0\"]\n\
         [[listener]]\nservice = \"counter\"\nurls = [\"tcp://127.0.0.1:0\"]\n",
    )
    .expect("write config");
    let server = Server::start(
        &["serve", "--config", file.to_str().expect("utf-8 path")],
        2,
    );
    let mut echo = Conn::tcp(server.addr(0));
    assert_eq!(echo.ask("hi"), "hi");
    assert_eq!(Conn::tcp(server.addr(1)).ask(""), "2");
}

#[test]
fn refused_connections_do_not_count() {
    let server = Server::serve(
        "counter",
        &["tcp://127.0.0.1:0"],
        &["--max-connections", "1"],
    );
    let mut held = Conn::tcp(server.addr(0));
    assert_eq!(held.ask(""), "1");
    for _ in 0..3 {
        let mut refused = Conn::tcp(server.addr(0));
        assert!(refused.read_line().starts_with("ERR server busy"));
        refused.expect_eof(WAIT);
    }
    assert_eq!(held.ask(""), "1", "refused connections were counted");
    drop(held);
    // The slot frees up; the next client is the second one admitted.
    let mut next = None;
    assert!(eventually(WAIT, || {
        let mut c = Conn::tcp(server.addr(0));
        let reply = c.ask("");
        let admitted = !reply.starts_with("ERR");
        if admitted {
            next = Some(reply);
        }
        admitted
    }));
    assert_eq!(next.as_deref(), Some("2"));
}

#[test]
fn stop_ends_a_counter_session_but_not_over_udp() {
    let server = Server::serve("counter", &["tcp://127.0.0.1:0", "udp://127.0.0.1:0"], &[]);
    let mut c = Conn::tcp(server.addr(0));
    assert_eq!(c.ask(""), "1");
    c.send_line("STOP");
    c.expect_eof(WAIT);
    let u = Udp::to(server.addr(1));
    assert_eq!(
        u.ask("STOP"),
        "2\n",
        "STOP over UDP is answered like any other request"
    );
    assert_eq!(u.ask("STOP\n"), "2\n");
}
