//! The request handling of the line services (daytime, random, counter)
//! through `service::handle_request`, the entry every transport uses. The
//! first byte picks the service and its settings, the rest is split into
//! requests on `\n`. No request panics; every reply is one line; a request
//! gets at most `max_count` replies.
#![no_main]

use duplex::service::{
    Counter, Daytime, DaytimeFormat, Flow, LineService, Random, RandomConfig, Stats, handle_request,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let max_count = u64::from(pick >> 4) + 1;
    let service: Box<dyn LineService> = match pick & 3 {
        0 => Box::new(Daytime::new(DaytimeFormat::Rfc3339, true, false)),
        1 => Box::new(Counter::new(Stats::new())),
        2 => Box::new(
            Random::new(RandomConfig {
                max_count,
                choices: vec!["heads".into(), "tails".into()],
                seed: Some(1),
                ..RandomConfig::default()
            })
            .expect("valid settings"),
        ),
        _ => Box::new(
            Random::new(RandomConfig {
                min: i64::MIN,
                max: i64::MAX,
                max_count,
                seed: Some(1),
                ..RandomConfig::default()
            })
            .expect("valid settings"),
        ),
    };
    let allow_stop = pick & 4 != 0;
    let mut session = service.session(0);
    let _ = session.open();
    let mut reply = Vec::new();
    while session.next_reply(&mut reply) {
        reply.clear();
    }
    for request in rest.split(|&b| b == b'\n') {
        let flow = handle_request(session.as_mut(), request, allow_stop);
        let mut replies = 0u64;
        while session.next_reply(&mut reply) {
            assert!(!reply.contains(&b'\n'), "a reply spans lines: {reply:?}");
            replies += 1;
            assert!(replies <= max_count, "more than {max_count} replies");
            reply.clear();
        }
        if flow == Flow::Close {
            assert_eq!(replies, 0);
            return;
        }
    }
});
