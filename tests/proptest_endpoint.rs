//! Property tests of the endpoint URL parser: no input makes it panic, every
//! URL it accepts prints back to a URL that parses to the same endpoint, and
//! every endpoint it can represent survives printing and parsing.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use duplex::endpoint::{Endpoint, Host, HostPort, WsTarget};
use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Strings shaped like endpoint URLs, so that the parser's deeper branches
/// (hosts, brackets, ports, paths, queries) see many inputs.
fn url_like() -> impl Strategy<Value = String> {
    let scheme = prop_oneof![
        Just("tcp"),
        Just("udp"),
        Just("tls"),
        Just("unix"),
        Just("ws"),
        Just("wss"),
        Just("WS"),
        Just("Tcp"),
        Just("http"),
        Just(""),
    ];
    let rest = "[\\[\\]:/?#@%a-zA-Z0-9._~ \\-\u{0}\u{7f}é]{0,40}";
    (scheme, prop_oneof![Just("://"), Just(":/"), Just("")], rest)
        .prop_map(|(s, sep, r)| format!("{s}{sep}{r}"))
}

/// URLs assembled from plausible and implausible parts, most of them close
/// enough to valid that they exercise acceptance as well as rejection.
fn structured_url() -> impl Strategy<Value = String> {
    let scheme = prop_oneof![
        Just("tcp"),
        Just("UDP"),
        Just("tls"),
        Just("unix"),
        Just("ws"),
        Just("Wss"),
    ];
    let host = prop_oneof![
        Just(String::new()),
        Just("127.0.0.1".to_string()),
        Just("[::1]".to_string()),
        Just("[::ffff:1.2.3.4]".to_string()),
        Just("[fe80::1%eth0]".to_string()),
        Just("::1".to_string()),
        Just("Example.COM".to_string()),
        Just("01.2.3.4".to_string()),
        Just("-bad".to_string()),
        "[a-zA-Z0-9_.-]{1,12}",
    ];
    let port = "[+-]?[0-9]{0,6}";
    let target = "(/[a-zA-Z0-9%?#=&. ]{0,8}){0,3}";
    (scheme, host, prop::option::of(port), target).prop_map(|(s, h, p, t)| match p {
        Some(p) => format!("{s}://{h}:{p}{t}"),
        None => format!("{s}://{h}{t}"),
    })
}

fn host() -> impl Strategy<Value = Host> {
    let label = "[a-z][a-z0-9_-]{0,10}[a-z0-9]";
    prop_oneof![
        Just(Host::Any),
        any::<u32>().prop_map(|v| Host::Ip(IpAddr::V4(Ipv4Addr::from(v)))),
        any::<u128>().prop_map(|v| Host::Ip(IpAddr::V6(Ipv6Addr::from(v)))),
        prop::collection::vec(label, 1..4).prop_map(|labels| Host::Name(labels.join("."))),
    ]
}

fn host_port() -> impl Strategy<Value = HostPort> {
    (host(), any::<u16>()).prop_map(|(host, port)| HostPort { host, port })
}

fn ws_target() -> impl Strategy<Value = WsTarget> {
    (
        host_port(),
        "/[a-zA-Z0-9/._~%!$&'()*+,;=:@-]{0,24}",
        prop::option::of("[a-zA-Z0-9/._~%!$&'()*+,;=:@?-]{0,16}"),
    )
        .prop_map(|(addr, path, query)| WsTarget { addr, path, query })
}

/// Every endpoint the parser can produce.
fn endpoint() -> impl Strategy<Value = Endpoint> {
    prop_oneof![
        host_port().prop_map(Endpoint::Tcp),
        host_port().prop_map(Endpoint::Udp),
        host_port().prop_map(Endpoint::Tls),
        "/?[a-zA-Z0-9 ._~:@?#-]{1,30}".prop_map(|p| Endpoint::Unix(PathBuf::from(p))),
        ws_target().prop_map(Endpoint::Ws),
        ws_target().prop_map(Endpoint::Wss),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_strings_never_panic(s in any::<String>()) {
        let _ = s.parse::<Endpoint>();
    }

    #[test]
    fn url_like_strings_never_panic_and_errors_show_an_example(
        s in prop_oneof![url_like(), structured_url()],
    ) {
        if let Err(e) = s.parse::<Endpoint>() {
            let msg = e.to_string();
            prop_assert!(msg.contains("(for example "), "{msg}");
            prop_assert!(e.example.parse::<Endpoint>().is_ok(), "bad example {}", e.example);
        }
    }

    #[test]
    fn every_accepted_url_prints_back_to_the_same_endpoint(
        s in prop_oneof![url_like(), structured_url()],
    ) {
        if let Ok(e) = s.parse::<Endpoint>() {
            let printed = e.to_string();
            let again: Endpoint = printed
                .parse()
                .map_err(|err| TestCaseError::fail(format!("{s:?} -> {printed:?}: {err}")))?;
            prop_assert_eq!(&again, &e, "{:?} printed as {:?}", s, printed);
            prop_assert_eq!(again.to_string(), printed);
        }
    }

    #[test]
    fn generated_endpoints_round_trip(e in endpoint()) {
        let printed = e.to_string();
        let again: Endpoint = printed
            .parse()
            .map_err(|err| TestCaseError::fail(format!("{e:?} printed as {printed:?}: {err}")))?;
        prop_assert_eq!(again, e);
    }

    #[test]
    fn with_port_changes_only_the_port(e in endpoint(), port in any::<u16>()) {
        let moved = e.with_port(port);
        prop_assert_eq!(moved.scheme(), e.scheme());
        match (moved.host_port(), e.host_port()) {
            (Some(a), Some(b)) => {
                prop_assert_eq!(a.port, port);
                prop_assert_eq!(&a.host, &b.host);
            }
            (None, None) => prop_assert_eq!(&moved, &e),
            _ => prop_assert!(false, "host_port changed kind"),
        }
    }
}
