//! The URL forms and their errors, each checked both ways: parsed into an
//! [`Endpoint`] and written back as the same text.

use super::*;

fn parse(s: &str) -> Endpoint {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

#[test]
fn tcp_ipv4() {
    let e = parse("tcp://127.0.0.1:7000");
    assert_eq!(
        e,
        Endpoint::Tcp(HostPort {
            host: Host::Ip([127, 0, 0, 1].into()),
            port: 7000
        })
    );
    assert_eq!(e.to_string(), "tcp://127.0.0.1:7000");
}

#[test]
fn ipv6_in_brackets_round_trips() {
    let e = parse("udp://[::1]:53");
    assert_eq!(e.host_port().map(|h| h.port), Some(53));
    assert_eq!(e.to_string(), "udp://[::1]:53");
}

#[test]
fn empty_host_means_any() {
    let e = parse("tcp://:7000");
    assert_eq!(
        e,
        Endpoint::Tcp(HostPort {
            host: Host::Any,
            port: 7000
        })
    );
    assert_eq!(e.to_string(), "tcp://:7000");
}

#[test]
fn port_zero_is_allowed_and_with_port_replaces_it() {
    let e = parse("tcp://127.0.0.1:0");
    assert_eq!(e.with_port(4242).to_string(), "tcp://127.0.0.1:4242");
}

#[test]
fn dns_names_are_kept() {
    assert_eq!(
        parse("tls://Example.COM:443").to_string(),
        "tls://example.com:443"
    );
}

#[test]
fn unix_absolute_and_relative() {
    assert_eq!(
        parse("unix:///tmp/x.sock"),
        Endpoint::Unix("/tmp/x.sock".into())
    );
    assert_eq!(parse("unix://x.sock"), Endpoint::Unix("x.sock".into()));
    assert_eq!(
        parse("unix:///tmp/x.sock").to_string(),
        "unix:///tmp/x.sock"
    );
}

#[test]
fn ws_path_defaults_to_root_and_keeps_query() {
    let e = parse("ws://127.0.0.1:8080");
    assert_eq!(e.to_string(), "ws://127.0.0.1:8080/");
    let e = parse("ws://localhost:8080/echo?x=1&y=2");
    let Endpoint::Ws(t) = &e else {
        panic!("not ws")
    };
    assert_eq!(t.path, "/echo");
    assert_eq!(t.query.as_deref(), Some("x=1&y=2"));
    assert_eq!(t.request_target(), "/echo?x=1&y=2");
    assert_eq!(e.to_string(), "ws://localhost:8080/echo?x=1&y=2");
    let e = parse("wss://[::1]:8443?q");
    assert_eq!(e.to_string(), "wss://[::1]:8443/?q");
}

#[test]
fn inherited_sockets_by_number_and_name_round_trip() {
    for (url, r) in [
        ("tcp://fd:3", FdRef::Number(3)),
        ("udp://fd:dns", FdRef::Name("dns".into())),
        (
            "tls://FD:duplex.socket",
            FdRef::Name("duplex.socket".into()),
        ),
        ("unix://fd:ctl", FdRef::Name("ctl".into())),
        ("ws://fd:web/echo", FdRef::Name("web".into())),
        ("wss://fd:4/", FdRef::Number(4)),
    ] {
        let e = parse(url);
        assert_eq!(e.inherited(), Some(r), "{url}");
        assert_eq!(e.to_string().to_ascii_lowercase(), url.to_ascii_lowercase());
        assert_eq!(parse(&e.to_string()), e, "{url}");
    }
    assert_eq!(parse("tcp://127.0.0.1:3").inherited(), None);
    assert_eq!(parse("unix://./fd:3").inherited(), None);
    let msg = error("tcp://fd:a/b");
    assert!(msg.contains("takes no path"), "{msg}");
    for bad in ["tcp://fd:", "unix://fd:a b", "ws://fd:x!y/"] {
        let msg = error(bad);
        assert!(msg.contains("names no inherited socket"), "{bad}: {msg}");
    }
}

fn error(s: &str) -> String {
    match s.parse::<Endpoint>() {
        Ok(e) => panic!("{s} parsed as {e:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn errors_say_what_is_wrong_and_show_an_example() {
    for (input, needle) in [
        ("127.0.0.1:7000", "needs a scheme"),
        ("http://x:1", "unknown scheme"),
        ("tcp://", "needs a host and a port"),
        ("tcp://127.0.0.1", "has no port"),
        ("tcp://127.0.0.1:", "empty port"),
        ("tcp://127.0.0.1:70000", "not a number from 0 to 65535"),
        ("tcp://127.0.0.1:http", "not a number"),
        ("tcp://::1:80", "brackets"),
        ("tcp://[::1:80", "lacks its ']'"),
        ("tcp://[::1]", "has no port"),
        ("tcp://[zz]:1", "not an IPv6 address"),
        ("tcp://bad host:1", "not a valid host name"),
        ("tcp://h:1/path", "takes no path"),
        ("unix://", "needs a socket path"),
        ("ws://h:1/a b", "spaces"),
        ("ws://h:1/a#frag", "fragment"),
    ] {
        let msg = error(input);
        assert!(msg.contains(needle), "{input}: {msg}");
        assert!(msg.contains("for example"), "{input}: {msg}");
    }
}
