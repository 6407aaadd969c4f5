//! Property tests of the configuration loader: no text makes it panic, and
//! the values a configuration file states are the values of the plan.

use std::time::Duration;

use duplex::config;
use duplex::endpoint::Endpoint;
use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Lines made of the configuration's own vocabulary, so that the parser gets
/// past TOML syntax and into the checks of limits, services and URLs.
fn config_like() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        Just("[limits]".to_string()),
        Just("[[listener]]".to_string()),
        Just("[tls]".to_string()),
        "(service|format|idle_timeout|shutdown_timeout|ping_interval) = \"[a-z0-9 .-]{0,10}\"",
        "(max_connections|max_line|max_message|min|max|max_count|seed|idle_timeout) = -?[0-9]{1,21}(\\.[0-9]{1,3})?",
        "(utc|once) = (true|false|1)",
        "urls = \\[\"(tcp|udp|unix|ws|wss|tls)://[a-z0-9.:/\\[\\]]{0,16}\"\\]",
        "choices = \\[(\"[a-z\n]{0,5}\", ?){0,3}\\]",
        "service = \"(echo|daytime|random|counter)\"",
        "[ -~]{0,30}",
    ];
    prop::collection::vec(line, 0..14).prop_map(|lines| lines.join("\n"))
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        let _ = config::parse(&text);
    }

    #[test]
    fn configuration_like_text_never_panics(text in config_like()) {
        if let Ok(plan) = config::parse(&text) {
            prop_assert!(!plan.listeners.is_empty());
            prop_assert!(plan.limits.max_connections >= 1);
            prop_assert!(plan.limits.max_line >= 1);
        }
    }

    #[test]
    fn limits_written_in_a_file_are_the_limits_of_the_plan(
        max_connections in 1usize..1_000_000,
        max_line in 1usize..1_000_000,
        max_message in 1usize..100_000_000,
        idle_ms in 1u64..10_000_000,
        shutdown_s in 0u64..100_000,
        ping_ms in 0u64..100_000,
    ) {
        let text = format!(
            "[limits]\nmax_connections = {max_connections}\nmax_line = {max_line}\n\
             max_message = {max_message}\nidle_timeout = \"{idle_ms}ms\"\n\
             shutdown_timeout = {shutdown_s}\nping_interval = \"{ping_ms}ms\"\n\
             [[listener]]\nservice = \"echo\"\nurls = [\"tcp://127.0.0.1:7\"]\n"
        );
        let plan = config::parse(&text).map_err(|e| TestCaseError::fail(format!("{e:#}\n{text}")))?;
        let l = &plan.limits;
        prop_assert_eq!(l.max_connections, max_connections);
        prop_assert_eq!(l.max_line, max_line);
        prop_assert_eq!(l.max_message, max_message);
        prop_assert_eq!(l.idle_timeout, Duration::from_millis(idle_ms));
        prop_assert_eq!(l.shutdown_timeout, Duration::from_secs(shutdown_s));
        prop_assert_eq!(l.ping_interval, (ping_ms > 0).then(|| Duration::from_millis(ping_ms)));
    }

    #[test]
    fn urls_written_in_a_file_are_the_urls_of_the_plan(
        ports in prop::collection::vec(any::<u16>(), 1..6),
        hosts in prop::collection::vec(prop_oneof![Just("127.0.0.1"), Just(""), Just("[::1]"), Just("localhost")], 6),
    ) {
        let urls: Vec<String> = ports
            .iter()
            .zip(&hosts)
            .enumerate()
            .map(|(i, (port, host))| match i % 3 {
                0 => format!("tcp://{host}:{port}"),
                1 => format!("udp://{host}:{port}"),
                _ => format!("ws://{host}:{port}/p{i}?q={port}"),
            })
            .collect();
        let quoted: Vec<String> = urls.iter().map(|u| format!("{u:?}")).collect();
        let text = format!("[[listener]]\nservice = \"counter\"\nurls = [{}]\n", quoted.join(", "));
        let plan = config::parse(&text).map_err(|e| TestCaseError::fail(format!("{e:#}\n{text}")))?;
        prop_assert_eq!(plan.listeners.len(), 1);
        let expected: Vec<Endpoint> = urls.iter().map(|u| u.parse().expect("a valid URL")).collect();
        prop_assert_eq!(&plan.listeners[0].urls, &expected);
    }
}

/// `duplex config` prints the built-in default, and what it prints loads as
/// the very plan the server runs without a configuration.
#[test]
fn printed_default_configuration_round_trips() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_duplex"))
        .arg("config")
        .output()
        .expect("run duplex config");
    assert!(out.status.success(), "duplex config failed");
    let printed = String::from_utf8(out.stdout).expect("UTF-8 configuration");
    let default = config::default_config();
    assert_eq!(printed, default);
    let builtin = config::parse(&default).expect("the built-in default parses");
    let reloaded = config::parse(&printed).expect("the printed default parses");
    assert_eq!(format!("{reloaded:?}"), format!("{builtin:?}"));
    // Printing every URL of the plan and loading them again changes nothing.
    for l in &reloaded.listeners {
        for u in &l.urls {
            assert_eq!(&u.to_string().parse::<Endpoint>().expect("reparse"), u);
        }
    }
}
