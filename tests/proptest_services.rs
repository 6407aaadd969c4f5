//! Property tests of the request parsers of the line services (daytime,
//! random, counter) through the one entry every transport uses,
//! `service::handle_request`: no request makes a session panic, every reply
//! is one line, and the number of replies is bounded.

use std::sync::Arc;

use duplex::service::{
    Counter, Daytime, DaytimeFormat, Flow, LineService, Random, RandomConfig, Session, Stats,
    handle_request,
};
use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Pulls every queued reply, failing past `limit` (a runaway session).
fn drain(session: &mut dyn Session, limit: usize) -> Result<Vec<Vec<u8>>, TestCaseError> {
    let mut replies = Vec::new();
    let mut buf = Vec::new();
    while session.next_reply(&mut buf) {
        replies.push(std::mem::take(&mut buf));
        prop_assert!(
            replies.len() <= limit,
            "more than {} replies to one request",
            limit
        );
    }
    Ok(replies)
}

fn one_line(reply: &[u8]) -> Result<&str, TestCaseError> {
    let text = std::str::from_utf8(reply)
        .map_err(|_| TestCaseError::fail(format!("reply is not UTF-8: {reply:?}")))?;
    prop_assert!(
        !text.contains(['\n', '\r']),
        "reply spans lines: {:?}",
        text
    );
    Ok(text)
}

/// Bytes that look like requests (digits, signs, spaces, words, STOP) mixed
/// with arbitrary bytes.
fn request() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64),
        "[ \t0-9+-]{0,40}".prop_map(String::into_bytes),
        "(-?[0-9]{1,20} ){0,4}-?[0-9]{0,20}".prop_map(String::into_bytes),
        " ?(STOP|stop|STOP STOP|\u{0}STOP) ?".prop_map(String::into_bytes),
        "[ -~é€\u{0}-\u{1f}]{0,40}".prop_map(String::into_bytes),
    ]
}

fn random_service(min: i64, span: u64, max_count: u64, choices: bool) -> Random {
    let max = min.saturating_add_unsigned(span);
    Random::new(RandomConfig {
        min,
        max,
        max_count,
        choices: if choices {
            vec!["heads".into(), "tails".into()]
        } else {
            Vec::new()
        },
        seed: Some(7),
    })
    .expect("a valid random configuration")
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn random_replies_are_err_lines_or_numbers_and_at_most_max_count(
        requests in prop::collection::vec(request(), 1..8),
        min in any::<i64>(),
        span in any::<u64>(),
        max_count in 1u64..50,
        allow_stop in any::<bool>(),
    ) {
        let service = random_service(min, span, max_count, false);
        let mut session = service.session(0);
        for raw in &requests {
            let flow = handle_request(session.as_mut(), raw, allow_stop);
            let replies = drain(session.as_mut(), max_count as usize)?;
            if flow == Flow::Close {
                prop_assert!(allow_stop);
                prop_assert_eq!(raw.trim_ascii(), b"STOP");
                prop_assert!(replies.is_empty());
                continue;
            }
            for r in &replies {
                let text = one_line(r)?;
                if text.starts_with("ERR ") {
                    prop_assert_eq!(replies.len(), 1, "an ERR comes alone");
                } else {
                    let n: i64 = text
                        .parse()
                        .map_err(|_| TestCaseError::fail(format!("neither ERR nor a number: {text:?}")))?;
                    let _ = n;
                }
            }
            prop_assert!(!replies.is_empty(), "no reply to {:?}", String::from_utf8_lossy(raw));
        }
    }

    #[test]
    fn random_well_formed_requests_get_exactly_n_numbers_in_range(
        n in -3i64..40,
        lo in any::<i64>(),
        hi in any::<i64>(),
        max_count in 1u64..30,
    ) {
        let service = random_service(1, 999, max_count, false);
        let mut session = service.session(0);
        let request = format!("  {n} {lo} {hi}\t");
        prop_assert_eq!(handle_request(session.as_mut(), request.as_bytes(), true), Flow::Continue);
        let replies = drain(session.as_mut(), max_count as usize)?;
        let valid = n >= 1 && (n as u64) <= max_count && lo <= hi;
        if valid {
            prop_assert_eq!(replies.len(), n as usize);
            for r in &replies {
                let v: i64 = one_line(r)?.parse().map_err(|_| TestCaseError::fail("not a number"))?;
                prop_assert!(lo <= v && v <= hi, "{} outside [{}, {}]", v, lo, hi);
            }
        } else {
            prop_assert_eq!(replies.len(), 1);
            prop_assert!(one_line(&replies[0])?.starts_with("ERR "));
        }
    }

    #[test]
    fn random_with_choices_answers_err_or_a_choice(
        requests in prop::collection::vec(request(), 1..8),
        max_count in 1u64..20,
    ) {
        let service = random_service(0, 0, max_count, true);
        let mut session = service.session(3);
        for raw in &requests {
            if handle_request(session.as_mut(), raw, true) == Flow::Close {
                continue;
            }
            let replies = drain(session.as_mut(), max_count as usize)?;
            prop_assert!(!replies.is_empty());
            for r in &replies {
                let text = one_line(r)?;
                prop_assert!(
                    text == "heads" || text == "tails" || (text.starts_with("ERR ") && replies.len() == 1),
                    "{:?}", text
                );
            }
        }
    }

    #[test]
    fn daytime_answers_every_request_with_one_time_line(
        requests in prop::collection::vec(request(), 1..8),
        format in prop_oneof![
            Just(DaytimeFormat::Rfc3339),
            Just(DaytimeFormat::Rfc2822),
            Just(DaytimeFormat::Unix),
            Just(DaytimeFormat::UnixMs),
        ],
    ) {
        let service = Daytime::new(format, true, false);
        let mut session = service.session(0);
        prop_assert_eq!(session.open(), Flow::Continue);
        prop_assert_eq!(drain(session.as_mut(), 1)?.len(), 1, "one greeting");
        for raw in &requests {
            let flow = handle_request(session.as_mut(), raw, true);
            let replies = drain(session.as_mut(), 1)?;
            if flow == Flow::Close {
                prop_assert!(replies.is_empty());
                continue;
            }
            prop_assert_eq!(replies.len(), 1);
            let text = one_line(&replies[0])?;
            prop_assert!(!text.is_empty() && !text.starts_with("ERR"), "{:?}", text);
        }
    }

    #[test]
    fn counter_answers_every_request_with_the_client_count(
        requests in prop::collection::vec(request(), 1..8),
        clients in 0u64..100,
    ) {
        let stats = Stats::new();
        for _ in 0..clients {
            stats.client_connected();
        }
        let service = Counter::new(Arc::clone(&stats));
        let mut session = service.session(0);
        for raw in &requests {
            let flow = handle_request(session.as_mut(), raw, true);
            let replies = drain(session.as_mut(), 1)?;
            if flow == Flow::Close {
                prop_assert!(replies.is_empty());
                continue;
            }
            prop_assert_eq!(replies.len(), 1);
            prop_assert_eq!(one_line(&replies[0])?, clients.to_string());
        }
    }
}
