//! The PROXY protocol header parser, as a `--proxy-protocol` listener runs
//! it on whatever bytes have arrived: no input panics, a header never
//! reaches past the input or the size limit, the bytes after it do not
//! change it, and every shorter prefix of a header waits for more (so a
//! header arriving a byte at a time is never refused).
#![no_main]

use duplex::proxy_header::{Parsed, parse};
use libfuzzer_sys::fuzz_target;

const MAX: usize = 1024;

fuzz_target!(|data: &[u8]| {
    match parse(data, MAX) {
        Parsed::Header { len, client } => {
            assert!(len <= data.len() && len <= MAX, "{len} of {}", data.len());
            assert_eq!(parse(&data[..len], MAX), Parsed::Header { len, client });
            for cut in 0..len {
                assert!(
                    matches!(parse(&data[..cut], MAX), Parsed::Incomplete { .. }),
                    "the first {cut} bytes of a {len}-byte header: {:?}",
                    parse(&data[..cut], MAX)
                );
            }
        }
        Parsed::Incomplete { len: Some(len) } => {
            assert!(len > data.len() && len <= MAX, "{len} of {}", data.len());
        }
        Parsed::Incomplete { len: None } | Parsed::Invalid(_) => {}
        Parsed::TooLarge(len) => assert!(len > MAX),
    }
});
