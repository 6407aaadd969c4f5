//! `random` (docs/behaviour.md, "Services"): request forms, errors, choices,
//! seeds, extreme bounds, trimming, UDP.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;

fn server(extra: &[&str]) -> Server {
    Server::serve("random", &["tcp://127.0.0.1:0"], extra)
}

/// Reads `n` integers.
fn numbers(c: &mut Conn, n: usize) -> Vec<i64> {
    (0..n)
        .map(|_| {
            let l = c.read_line();
            l.parse()
                .unwrap_or_else(|e| panic!("{l:?} is not an integer: {e}"))
        })
        .collect()
}

#[test]
fn empty_request_gives_one_number_in_the_server_range() {
    let s = server(&["--min", "-2", "--max", "2"]);
    let mut c = Conn::tcp(s.addr(0));
    let mut seen = Vec::new();
    for _ in 0..200 {
        c.send_line("");
        seen.extend(numbers(&mut c, 1));
    }
    c.expect_silence(Duration::from_millis(100));
    assert!(seen.iter().all(|n| (-2..=2).contains(n)), "{seen:?}");
    for v in -2..=2 {
        assert!(
            seen.contains(&v),
            "{v} never came up in 200 draws from [-2, 2]"
        );
    }
}

#[test]
fn default_server_range_is_1_to_1000() {
    let s = server(&[]);
    let mut c = Conn::tcp(s.addr(0));
    c.send_line("2000");
    let seen = numbers(&mut c, 2000);
    assert!(seen.iter().all(|n| (1..=1000).contains(n)));
    assert!(seen.iter().any(|&n| n > 900) && seen.iter().any(|&n| n < 100));
}

#[test]
fn count_request_gives_that_many_numbers() {
    let s = server(&["--min", "10", "--max", "20"]);
    let mut c = Conn::tcp(s.addr(0));
    c.send_line("5");
    let got = numbers(&mut c, 5);
    assert!(got.iter().all(|n| (10..=20).contains(n)), "{got:?}");
    c.expect_silence(Duration::from_millis(200));
}

#[test]
fn lo_hi_request_gives_one_number_in_that_range() {
    let s = server(&[]);
    let mut c = Conn::tcp(s.addr(0));
    for _ in 0..50 {
        let n: i64 = c.ask("-5 -3").parse().expect("integer");
        assert!((-5..=-3).contains(&n), "{n}");
    }
    assert_eq!(c.ask("42 42"), "42");
    c.expect_silence(Duration::from_millis(100));
}

#[test]
fn n_lo_hi_request_gives_n_numbers_in_that_range() {
    let s = server(&[]);
    let mut c = Conn::tcp(s.addr(0));
    c.send_line("3 1000000 1000002");
    let got = numbers(&mut c, 3);
    assert!(
        got.iter().all(|n| (1_000_000..=1_000_002).contains(n)),
        "{got:?}"
    );
    c.expect_silence(Duration::from_millis(200));
}

#[test]
fn the_largest_allowed_count_is_sent_in_full() {
    let s = server(&[]);
    let mut c = Conn::tcp(s.addr(0));
    c.send_line("100000");
    let got = numbers(&mut c, 100_000);
    assert!(got.iter().all(|n| (1..=1000).contains(n)));
    assert_eq!(c.ask("7 7"), "7", "the session goes on after a large reply");
}

#[test]
fn numbers_are_uniform() {
    let s = server(&[]);
    let mut c = Conn::tcp(s.addr(0));
    c.send_line("60000 1 6");
    let mut counts: HashMap<i64, u32> = HashMap::new();
    for n in numbers(&mut c, 60_000) {
        *counts.entry(n).or_default() += 1;
    }
    assert_eq!(counts.len(), 6, "{counts:?}");
    // Each face 10000 ± 5% (more than 5 standard deviations).
    for (face, n) in &counts {
        assert!(
            (9500..=10500).contains(n),
            "face {face} came up {n} times of 60000: {counts:?}"
        );
    }
}

#[test]
fn errors_are_single_err_lines_and_the_session_goes_on() {
    let s = server(&[]);
    let mut c = Conn::tcp(s.addr(0));
    assert_eq!(c.ask("9 3"), "ERR LO 9 is greater than HI 3");
    assert_eq!(
        c.ask("5000000"),
        "ERR count 5000000 is over the limit 100000"
    );
    assert_eq!(
        c.ask("5000000 1 2"),
        "ERR count 5000000 is over the limit 100000"
    );
    for bad in [
        "0",
        "-1",
        "0 1 5",
        "abc",
        "1 2 3 4",
        "1.5",
        "99999999999999999999",
        "1 x",
    ] {
        let reply = c.ask(bad);
        assert!(
            reply.starts_with("ERR ") && reply.len() > 8,
            "{bad:?} -> {reply:?}"
        );
        c.expect_silence(Duration::from_millis(20));
    }
    // Still answering.
    assert_eq!(c.ask("3 3"), "3");
}

#[test]
fn max_count_is_configurable() {
    let s = server(&["--max-count", "3"]);
    let mut c = Conn::tcp(s.addr(0));
    assert_eq!(c.ask("4"), "ERR count 4 is over the limit 3");
    c.send_line("3 1 1");
    assert_eq!(numbers(&mut c, 3), [1, 1, 1]);
}

#[test]
fn choices_pick_from_the_list() {
    let s = server(&["--choices", "heads,tails"]);
    let mut c = Conn::tcp(s.addr(0));
    let mut seen: HashMap<String, u32> = HashMap::new();
    c.send_line("");
    *seen.entry(c.read_line()).or_default() += 1;
    c.send_line("200");
    for _ in 0..200 {
        *seen.entry(c.read_line()).or_default() += 1;
    }
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(
        seen.contains_key("heads") && seen.contains_key("tails"),
        "{seen:?}"
    );
    // Only the empty and N forms apply.
    assert!(c.ask("1 6").starts_with("ERR "));
    assert!(c.ask("2 1 6").starts_with("ERR "));
    assert!(c.ask("0").starts_with("ERR "));
    assert!(["heads", "tails"].contains(&c.ask("").as_str()));
}

/// The first `n` numbers the first client of a fresh server receives.
fn first_client_numbers(extra: &[&str], request: &str, n: usize) -> Vec<i64> {
    let s = server(extra);
    let mut c = Conn::tcp(s.addr(0));
    c.send_line(request);
    numbers(&mut c, n)
}

#[test]
fn seed_gives_the_first_client_the_same_numbers_on_every_run() {
    let a = first_client_numbers(&["--seed", "42"], "20 1 1000000000", 20);
    let b = first_client_numbers(&["--seed", "42"], "20 1 1000000000", 20);
    assert_eq!(a, b, "same seed, same numbers");
    let c = first_client_numbers(&["--seed", "43"], "20 1 1000000000", 20);
    assert_ne!(a, c, "another seed gives other numbers");
    let d = first_client_numbers(&[], "20 1 1000000000", 20);
    let e = first_client_numbers(&[], "20 1 1000000000", 20);
    assert_ne!(d, e, "without --seed the numbers differ run after run");
}

#[test]
fn seed_gives_each_connection_its_own_numbers() {
    let s = server(&["--seed", "7"]);
    let mut first = Conn::tcp(s.addr(0));
    first.send_line("10 1 1000000000");
    let a = numbers(&mut first, 10);
    let mut second = Conn::tcp(s.addr(0));
    second.send_line("10 1 1000000000");
    let b = numbers(&mut second, 10);
    assert_ne!(
        a, b,
        "two connections of one seeded server got the same numbers"
    );
}

#[test]
fn extreme_64_bit_bounds() {
    let s = server(&[]);
    let mut c = Conn::tcp(s.addr(0));
    assert_eq!(
        c.ask("-9223372036854775808 -9223372036854775808"),
        "-9223372036854775808"
    );
    assert_eq!(
        c.ask("9223372036854775807 9223372036854775807"),
        "9223372036854775807"
    );
    c.send_line("1000 -9223372036854775808 9223372036854775807");
    let got = numbers(&mut c, 1000);
    // Over the full range, about half are negative.
    let negative = got.iter().filter(|&&n| n < 0).count();
    assert!(
        (350..=650).contains(&negative),
        "{negative} of 1000 negative over the full i64 range"
    );
    c.send_line("100 9223372036854775806 9223372036854775807");
    assert!(numbers(&mut c, 100).iter().all(|&n| n >= i64::MAX - 1));
    assert!(
        c.ask("9223372036854775808 9223372036854775808")
            .starts_with("ERR "),
        "beyond i64"
    );
    let s = server(&[
        "--min",
        "-9223372036854775808",
        "--max",
        "9223372036854775807",
    ]);
    let mut c = Conn::tcp(s.addr(0));
    c.send_line("10");
    numbers(&mut c, 10);
}

#[test]
fn requests_are_trimmed() {
    let s = server(&[]);
    let mut c = Conn::tcp(s.addr(0));
    c.send(b" 5 \n");
    assert_eq!(numbers(&mut c, 5).len(), 5);
    c.send(b"\t2 8 8  \r\n");
    assert_eq!(numbers(&mut c, 2), [8, 8]);
    c.send(b"  3   3 \r\n");
    assert_eq!(numbers(&mut c, 1), [3]);
    c.expect_silence(Duration::from_millis(200));
}

#[test]
fn a_last_request_without_a_line_break_is_answered() {
    let s = server(&[]);
    let mut c = Conn::tcp(s.addr(0));
    c.send(b"2 9 9");
    c.shutdown_write();
    assert_eq!(numbers(&mut c, 2), [9, 9]);
    c.expect_eof(WAIT);
}

#[test]
fn stop_ends_the_session_bad_requests_do_not() {
    let s = server(&[]);
    let mut c = Conn::tcp(s.addr(0));
    assert!(c.ask("STOP please").starts_with("ERR "));
    assert!(c.ask("stop").starts_with("ERR "));
    assert_eq!(c.ask("1 1"), "1");
    c.send_line("STOP ");
    c.expect_eof(WAIT);
    // Replies already requested before STOP are sent first.
    let mut c = Conn::tcp(s.addr(0));
    c.send(b"2 4 4\nSTOP\n1 1\n");
    assert_eq!(numbers(&mut c, 2), [4, 4]);
    c.expect_eof(WAIT);
}

#[test]
fn udp_replies_one_datagram_per_number() {
    let s = Server::serve("random", &["udp://127.0.0.1:0"], &[]);
    let u = Udp::to(s.addr(0));
    u.send(b"3 6 6\n");
    for _ in 0..3 {
        assert_eq!(u.recv(), b"6\n");
    }
    u.send(b"5 5\r\n");
    assert_eq!(u.recv(), b"5\n");
    u.send(b"");
    let n: i64 = String::from_utf8(u.recv())
        .expect("utf-8")
        .trim_end()
        .parse()
        .expect("integer");
    assert!((1..=1000).contains(&n));
    u.send(b"9 3");
    assert_eq!(u.recv(), b"ERR LO 9 is greater than HI 3\n");
    // STOP is just a request over UDP: answered (with an error), not a close.
    u.send(b"STOP");
    assert!(u.recv().starts_with(b"ERR "));
    u.send(b"1 2 2");
    assert_eq!(u.recv(), b"2\n");
    assert_eq!(u.try_recv(Duration::from_millis(200)), None);
}

#[test]
fn bad_server_range_is_refused_at_start() {
    let out = run_duplex(
        &[
            "serve",
            "random",
            "tcp://127.0.0.1:0",
            "--min",
            "5",
            "--max",
            "1",
        ],
        WAIT,
    );
    assert_ne!(out.code(), Some(0));
    assert!(out.stderr.contains("greater than"), "{}", out.stderr);
    assert!(out.stdout.is_empty());
}
