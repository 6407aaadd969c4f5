//! The endpoint URL parser: no input panics, and whatever parses prints back
//! to a URL that parses to the same endpoint.
#![no_main]

use duplex::endpoint::Endpoint;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(endpoint) = text.parse::<Endpoint>() {
        let printed = endpoint.to_string();
        let again: Endpoint = printed
            .parse()
            .unwrap_or_else(|e| panic!("{text:?} printed as {printed:?}, which fails: {e}"));
        assert_eq!(again, endpoint, "{text:?} printed as {printed:?}");
    }
});
