//! The configuration loader: no text panics, and a plan it accepts has at
//! least one listener and limits that pass its own checks.
#![no_main]

use duplex::config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(plan) = config::parse(text) {
        assert!(!plan.listeners.is_empty());
        assert!(plan.limits.max_connections >= 1);
        assert!(plan.limits.max_line >= 1);
        assert!(plan.limits.max_message >= 1);
    }
});
